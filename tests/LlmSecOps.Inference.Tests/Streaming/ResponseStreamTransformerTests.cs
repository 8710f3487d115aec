using System.Buffers;
using System.Text;
using System.Text.Json;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Routing;
using LlmSecOps.Inference.Streaming;

namespace LlmSecOps.Inference.Tests.Streaming;

public sealed class ResponseStreamTransformerTests
{
    private static readonly InferenceRoute Chat = RouteTable.Get(EndpointId.OpenAiChatCompletions);
    private static readonly InferenceRoute OllamaChat = RouteTable.Get(EndpointId.OllamaChat);

    private static string[] Tokens(string text)
    {
        var tokens = new List<string>();
        for (var i = 0; i < text.Length; i += 4)
        {
            tokens.Add(text.Substring(i, Math.Min(4, text.Length - i)));
        }

        return [.. tokens];
    }

    private static byte[] OpenAiStream(string[] tokens, bool usage = true, bool done = true)
    {
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            sb.Append("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":")
              .Append(JsonSerializer.Serialize(t)).Append("},\"finish_reason\":null}]}\n\n");
        }

        sb.Append("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        if (usage)
        {
            sb.Append("data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":").Append(tokens.Length).Append("}}\n\n");
        }

        if (done)
        {
            sb.Append("data: [DONE]\n\n");
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static byte[] OllamaStream(string[] tokens)
    {
        var sb = new StringBuilder();
        foreach (var t in tokens)
        {
            sb.Append("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":").Append(JsonSerializer.Serialize(t)).Append("},\"done\":false}\n");
        }

        sb.Append("{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":7,\"eval_count\":").Append(tokens.Length).Append("}\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static (string Output, ResponseStreamTransformer Transformer) Run(InferenceRoute route, byte[] upstream, IReadOnlyList<Detector>? detectors, long? limit, int seed, bool complete = true)
    {
        var transformer = new ResponseStreamTransformer(route, detectors, limit);
        var output = new ArrayBufferWriter<byte>();
        var random = new Random(seed);
        var position = 0;
        while (position < upstream.Length)
        {
            var size = Math.Min(random.Next(1, 40), upstream.Length - position);
            var more = transformer.Process(upstream.AsSpan(position, size), output);
            position += size;
            if (!more)
            {
                break;
            }
        }

        if (complete)
        {
            transformer.Complete(output);
        }

        return (Encoding.UTF8.GetString(output.WrittenSpan), transformer);
    }

    private static (string Text, List<string> Errors, bool Done) ReadOpenAi(string output)
    {
        using var reader = new SseEventReader();
        reader.Append(Encoding.UTF8.GetBytes(output));
        var parser = new OpenAiChunkParser();
        var text = new StringBuilder();
        var errors = new List<string>();
        var done = false;
        while (reader.TryRead(out var data))
        {
            var json = data.ToArray();
            var chunk = parser.Parse(json);
            Assert.False(chunk.Malformed, Encoding.UTF8.GetString(json));
            foreach (var piece in chunk.Content)
            {
                text.Append(piece.GetText(json));
            }

            if (chunk.Error is { } e)
            {
                errors.Add(e);
            }

            done |= chunk.IsDoneMarker;
        }

        return (text.ToString(), errors, done);
    }

    private static string Answer() =>
        $"Here is the key you asked for: {ApiKey.Create()} and a card 4111 1111 1111 1111. Also ghp_0123456789abcdefghijABCDEFGHIJ012345 ends it {ApiKey.Create()}";

    [Fact]
    public void AnOpenAiStreamIsRedactedAcrossChunkBoundariesAndEndsProperly()
    {
        var answer = Answer();
        var expected = Redaction.Apply(answer, Detectors.FindAll(answer, Detectors.StreamingDefault));

        for (var seed = 0; seed < 30; seed++)
        {
            var (output, transformer) = Run(Chat, OpenAiStream(Tokens(answer)), Detectors.StreamingDefault, null, seed);
            var (text, errors, done) = ReadOpenAi(output);

            Assert.Equal(expected, text);
            Assert.Empty(errors);
            Assert.True(done);
            Assert.DoesNotContain("lso_live_", output);
            Assert.Equal(StreamEnd.None, transformer.EndedBy);
            Assert.Equal(Tokens(answer).Length, transformer.Accounting.CompletionTokens);
            Assert.Equal("stop", transformer.Accounting.FinishReason);
        }
    }

    [Fact]
    public void AnOllamaStreamIsRedactedAndItsHeldTailReleasedInTheDoneLine()
    {
        var answer = Answer();
        var expected = Redaction.Apply(answer, Detectors.FindAll(answer, Detectors.StreamingDefault));

        for (var seed = 0; seed < 30; seed++)
        {
            var (output, transformer) = Run(OllamaChat, OllamaStream(Tokens(answer)), Detectors.StreamingDefault, null, seed);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var parser = new OllamaChunkParser();
            var text = string.Concat(lines.Select(l =>
            {
                var json = Encoding.UTF8.GetBytes(l);
                return string.Concat(parser.Parse(json).Content.Select(p => p.GetText(json)));
            }));

            Assert.Equal(expected, text);
            Assert.Contains("\"done\":true", lines[^1]);
            Assert.Equal(Tokens(answer).Length, transformer.Accounting.CompletionTokens);
            Assert.Equal(7, transformer.Accounting.ReportedPromptTokens);
        }
    }

    [Fact]
    public void ABudgetReachedMidStreamEndsItWithTheErrorFrameThenDone()
    {
        var answer = string.Concat(Enumerable.Repeat("word ", 200));
        var (output, transformer) = Run(Chat, OpenAiStream(Tokens(answer), usage: false), Detectors.StreamingDefault, limit: 20, seed: 1);
        var (text, errors, done) = ReadOpenAi(output);

        Assert.Equal(StreamEnd.BudgetExhausted, transformer.EndedBy);
        Assert.Single(errors);
        Assert.True(done);
        Assert.True(text.Length < answer.Length / 2);
        Assert.EndsWith("data: [DONE]\n\n", output);
        Assert.Contains("\"type\":\"insufficient_quota\"", output);
    }

    [Fact]
    public void AnOllamaBudgetCutEndsWithTheNdjsonErrorLine()
    {
        var answer = string.Concat(Enumerable.Repeat("word ", 200));
        var (output, transformer) = Run(OllamaChat, OllamaStream(Tokens(answer)), null, limit: 20, seed: 2);

        Assert.Equal(StreamEnd.BudgetExhausted, transformer.EndedBy);
        Assert.EndsWith("{\"error\":\"Token budget exhausted; the response was cut short.\",\"done\":true}\n", output);
    }

    [Fact]
    public void AStreamTheUpstreamCutsOffGetsAnErrorFrameInsteadOfASilentEnd()
    {
        var (output, transformer) = Run(Chat, OpenAiStream(Tokens("hello there"), usage: false, done: false), Detectors.StreamingDefault, null, seed: 3);
        var (text, errors, done) = ReadOpenAi(output);

        Assert.Equal("hello there", text);
        Assert.Equal(StreamEnd.Truncated, transformer.EndedBy);
        Assert.Single(errors);
        Assert.True(done);
    }

    [Fact]
    public void HeldTextIsReleasedBeforeAnUpstreamErrorFrame()
    {
        var upstream = Encoding.UTF8.GetBytes(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the number 12\"}}]}\n\n" +
            "data: {\"error\":{\"message\":\"CUDA out of memory\"}}\n\n");
        var (output, transformer) = Run(Chat, upstream, Detectors.StreamingDefault, null, seed: 4, complete: false);
        var (text, errors, _) = ReadOpenAi(output);

        Assert.Equal("the number 12", text);
        Assert.Equal(StreamEnd.UpstreamError, transformer.EndedBy);
        Assert.Equal("The upstream failed: CUDA out of memory", Assert.Single(errors));
    }

    [Fact]
    public void WithoutRedactionChunksPassThroughUnchanged()
    {
        var upstream = OpenAiStream(Tokens("plain text 4111 1111 1111 1111"));
        var (output, _) = Run(Chat, upstream, null, null, seed: 5);

        Assert.Equal(Encoding.UTF8.GetString(upstream), output);
    }

    [Fact]
    public void InterleavedChoicesAreRedactedIndependently()
    {
        var key = ApiKey.Create();
        var sb = new StringBuilder();
        var a = Tokens("A: " + key + " end");
        var b = Tokens("B: nothing secret here at all");
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            if (i < a.Length)
            {
                sb.Append("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":").Append(JsonSerializer.Serialize(a[i])).Append("}}]}\n\n");
            }

            if (i < b.Length)
            {
                sb.Append("data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":").Append(JsonSerializer.Serialize(b[i])).Append("}}]}\n\n");
            }
        }

        sb.Append("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"},{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        var (output, _) = Run(Chat, Encoding.UTF8.GetBytes(sb.ToString()), Detectors.StreamingDefault, null, seed: 6);

        Assert.DoesNotContain(key[..20], output);
        Assert.Contains("[REDACTED:llmsecops_key]", output);
    }

    [Fact]
    public void TheFirstTokenIsForwardedAsSoonAsItArrives()
    {
        using var transformer = new ResponseStreamTransformer(Chat, Detectors.StreamingDefault, 1000);
        var output = new ArrayBufferWriter<byte>();

        transformer.Process("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n"u8, output);

        Assert.Contains("\"content\":\"Hello\"", Encoding.UTF8.GetString(output.WrittenSpan));
        Assert.False(transformer.IsFinished);
    }
}

public sealed class CompletionResponseTests
{
    [Fact]
    public void ANonStreamedOpenAiCompletionIsRedactedAndItsUsageRead()
    {
        var key = LlmSecOps.Contracts.Keys.ApiKey.Create();
        var body = Encoding.UTF8.GetBytes("{\"id\":\"x\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"your key: " + key + "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9}}");

        var result = CompletionResponse.Process(RouteTable.Get(EndpointId.OpenAiChatCompletions), body, Detectors.All);

        var text = Encoding.UTF8.GetString(result.Body.Span);
        Assert.DoesNotContain(key, text);
        Assert.Contains("your key: [REDACTED:llmsecops_key]", text);
        Assert.Equal(1, result.Redactions);
        Assert.Equal(3, result.PromptTokens);
        Assert.Equal(9, result.CompletionTokens);
        Assert.Equal("stop", result.FinishReason);
        using var _ = JsonDocument.Parse(result.Body);
    }

    [Fact]
    public void ANonStreamedOllamaResponseWithoutFindingsIsReturnedUntouched()
    {
        var body = Encoding.UTF8.GetBytes("""{"model":"m","response":"hello","done":true,"done_reason":"length","prompt_eval_count":4,"eval_count":2}""");

        var result = CompletionResponse.Process(RouteTable.Get(EndpointId.OllamaGenerate), body, Detectors.All);

        Assert.Equal(body, result.Body.ToArray());
        Assert.Equal(2, result.CompletionTokens);
        Assert.Equal("length", result.FinishReason);
        Assert.Equal(0, result.Redactions);
    }
}

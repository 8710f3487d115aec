using System.Text;
using System.Text.Json;
using LlmSecOps.Inference.Streaming;

namespace LlmSecOps.Inference.Tests.Streaming;

public sealed class StreamingTests
{
    private static List<string> ReadSse(byte[] stream, int[] splits)
    {
        using var reader = new SseEventReader();
        var events = new List<string>();
        var position = 0;
        foreach (var size in splits.Append(stream.Length))
        {
            var take = Math.Min(size, stream.Length - position);
            reader.Append(stream.AsSpan(position, take));
            position += take;
            while (reader.TryRead(out var data))
            {
                events.Add(Encoding.UTF8.GetString(data));
            }

            if (position == stream.Length)
            {
                break;
            }
        }

        return events;
    }

    private const string SseStream =
        "data: {\"a\":1}\n\n" +
        ": keep-alive comment\n\n" +
        "event: message\r\nid: 7\r\ndata: {\"b\":2}\r\n\r\n" +
        "data:{\"c\":3}\r\rdata: line1\ndata: line2\n\n" +
        "retry: 100\n\n" +
        "data: [DONE]\n\n";

    private static readonly string[] ExpectedSse = ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}", "line1\nline2", "[DONE]"];

    [Fact]
    public void SseEventsAreFramedTheSameHoweverTheBytesAreSplit()
    {
        var bytes = Encoding.UTF8.GetBytes(SseStream);

        Assert.Equal(ExpectedSse, ReadSse(bytes, []));
        for (var size = 1; size <= 9; size++)
        {
            Assert.Equal(ExpectedSse, ReadSse(bytes, Enumerable.Repeat(size, bytes.Length).ToArray()));
        }

        for (var cut = 1; cut < bytes.Length; cut++)
        {
            Assert.Equal(ExpectedSse, ReadSse(bytes, [cut]));
        }
    }

    [Fact]
    public void AnOversizedSseEventIsAProtocolError()
    {
        using var reader = new SseEventReader(maxEventBytes: 100);
        reader.Append(Encoding.UTF8.GetBytes("data: " + new string('x', 200)));

        Assert.Throws<StreamProtocolException>(() => reader.TryRead(out _));
    }

    [Fact]
    public void AnIncompleteSseEventIsNotDelivered()
    {
        using var reader = new SseEventReader();
        reader.Append("data: {\"a\":1}\n"u8);

        Assert.False(reader.TryRead(out _));
        reader.Append("\n"u8);
        Assert.True(reader.TryRead(out var data));
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(data));
    }

    [Fact]
    public void NdjsonLinesAreFramedTheSameHoweverTheBytesAreSplit()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"a\":1}\n\n{\"b\":\"é\"}\r\n   \n{\"c\":3}\n{\"d\":4}");
        string[] expected = ["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}", "{\"d\":4}"];

        for (var size = 1; size <= bytes.Length; size++)
        {
            using var reader = new NdjsonLineReader();
            var lines = new List<string>();
            for (var i = 0; i < bytes.Length; i += size)
            {
                reader.Append(bytes.AsSpan(i, Math.Min(size, bytes.Length - i)));
                while (reader.TryRead(out var line))
                {
                    lines.Add(Encoding.UTF8.GetString(line));
                }
            }

            if (reader.TryReadRemainder(out var last))
            {
                lines.Add(Encoding.UTF8.GetString(last));
            }

            Assert.Equal(expected, lines);
        }
    }

    [Fact]
    public void AnOversizedNdjsonLineIsAProtocolError()
    {
        using var reader = new NdjsonLineReader(maxLineBytes: 10);
        reader.Append("{\"a\":\"0123456789\"}"u8);

        Assert.Throws<StreamProtocolException>(() => reader.TryRead(out _));
    }

    [Fact]
    public void AnOpenAiChatChunkYieldsItsDeltaAndFinishReason()
    {
        var json = """{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel\"lo\u00e9"},"finish_reason":null}]}"""u8;
        var chunk = new OpenAiChunkParser().Parse(json);

        Assert.Single(chunk.Content);
        Assert.Equal("Hel\"loé", chunk.Content[0].GetText(json));
        Assert.Null(chunk.FinishReason);
        Assert.Equal(0, chunk.OtherOutputBytes);
        Assert.False(chunk.Malformed);
    }

    [Fact]
    public void InterleavedChoicesKeepTheirIndex()
    {
        var json = """{"choices":[{"delta":{"content":"a"},"index":1},{"index":0,"delta":{"content":"b"},"finish_reason":"length"}]}"""u8.ToArray();
        var chunk = new OpenAiChunkParser().Parse(json);

        Assert.Equal([1, 0], chunk.Content.Select(c => c.Choice));
        Assert.Equal(["a", "b"], chunk.Content.Select(c => c.GetText(json)));
        Assert.Equal("length", chunk.FinishReason);
    }

    [Theory]
    [InlineData("""{"choices":[{"index":0,"text":"legacy","finish_reason":"stop"}]}""", "legacy", "stop")]
    [InlineData("""{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""", null, "stop")]
    [InlineData("""{"choices":[{"index":0,"delta":{"content":null}}]}""", null, null)]
    public void OpenAiChunkShapesAreRead(string json, string? text, string? finish)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var chunk = new OpenAiChunkParser().Parse(bytes);

        Assert.Equal(text, chunk.Content.Count == 0 ? null : chunk.Content[0].GetText(bytes));
        Assert.Equal(finish, chunk.FinishReason);
    }

    [Fact]
    public void TheOpenAiUsageChunkReportsTokens()
    {
        var chunk = new OpenAiChunkParser().Parse("""{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}"""u8);

        Assert.Equal(12, chunk.PromptTokens);
        Assert.Equal(34, chunk.CompletionTokens);
    }

    [Fact]
    public void ToolCallArgumentsCountAsOutputButNotAsText()
    {
        var chunk = new OpenAiChunkParser().Parse("""{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Paris\"}"}}]}}]}"""u8);

        Assert.Empty(chunk.Content);
        Assert.True(chunk.OtherOutputBytes > 20);
    }

    [Theory]
    [InlineData("""{"error":{"message":"boom","type":"server_error"}}""", "boom")]
    [InlineData("""{"error":"plain"}""", "plain")]
    public void AnInStreamErrorIsSurfaced(string json, string message)
    {
        Assert.Equal(message, new OpenAiChunkParser().Parse(Encoding.UTF8.GetBytes(json)).Error);
    }

    [Theory]
    [InlineData("[DONE]")]
    [InlineData(" [DONE] ")]
    public void TheDoneMarkerIsRecognised(string data)
    {
        Assert.True(new OpenAiChunkParser().Parse(Encoding.UTF8.GetBytes(data)).IsDoneMarker);
    }

    [Theory]
    [InlineData("{\"choices\":[")]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("")]
    public void MalformedChunksAreFlaggedNotThrown(string data)
    {
        Assert.True(new OpenAiChunkParser().Parse(Encoding.UTF8.GetBytes(data)).Malformed);
        Assert.True(new OllamaChunkParser().Parse(Encoding.UTF8.GetBytes(data)).Malformed);
    }

    [Fact]
    public void OllamaChatGenerateAndFinalLinesAreRead()
    {
        var parser = new OllamaChunkParser();
        var chat = """{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hi"},"done":false}"""u8;
        var c1 = parser.Parse(chat);
        Assert.Equal("Hi", c1.Content[0].GetText(chat));
        Assert.False(c1.Done);

        var generate = """{"model":"m","response":" there","done":false}"""u8;
        Assert.Equal(" there", parser.Parse(generate).Content[0].GetText(generate));

        var final = parser.Parse("""{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":1,"prompt_eval_count":26,"eval_count":290}"""u8);
        Assert.True(final.Done);
        Assert.Equal("length", final.FinishReason);
        Assert.Equal(26, final.PromptTokens);
        Assert.Equal(290, final.CompletionTokens);

        Assert.Equal("model 'x' not found", parser.Parse("""{"error":"model 'x' not found"}"""u8).Error);
    }

    [Fact]
    public void ReplacingContentKeepsTheRestOfTheChunkByteForByte()
    {
        var json = """{"id":"x","choices":[{"index":0,"delta":{"content":"secret lso_abc"}},{"index":1,"delta":{"content":"b"}}],"z":1}"""u8.ToArray();
        var chunk = new OpenAiChunkParser().Parse(json);

        var rewritten = chunk.ReplaceContent(json, piece => piece.Choice == 0 ? "secret [REDACTED] \"q\"" : "b");

        Assert.Equal("""{"id":"x","choices":[{"index":0,"delta":{"content":"secret [REDACTED] \u0022q\u0022"}},{"index":1,"delta":{"content":"b"}}],"z":1}""", Encoding.UTF8.GetString(rewritten));
        var element = JsonDocument.Parse(rewritten).RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("content");
        Assert.Equal("secret [REDACTED] \"q\"", element.GetString());
    }

    [Fact]
    public void TheOpenAiErrorFrameIsAnErrorEventThenDone()
    {
        var frame = StreamErrorFrames.OpenAiSse("Token budget exhausted \"now\"", "insufficient_quota", "insufficient_quota");

        Assert.Equal("data: {\"error\":{\"message\":\"Token budget exhausted \\u0022now\\u0022\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}\n\ndata: [DONE]\n\n", Encoding.UTF8.GetString(frame));
        var events = ReadSse(frame, []);
        Assert.Equal(2, events.Count);
        Assert.Equal("Token budget exhausted \"now\"", new OpenAiChunkParser().Parse(Encoding.UTF8.GetBytes(events[0])).Error);
        Assert.True(new OpenAiChunkParser().Parse(Encoding.UTF8.GetBytes(events[1])).IsDoneMarker);
    }

    [Fact]
    public void TheOllamaErrorFrameIsOneDoneLine()
    {
        var frame = StreamErrorFrames.OllamaNdjson("budget exhausted");

        Assert.Equal("{\"error\":\"budget exhausted\",\"done\":true}\n", Encoding.UTF8.GetString(frame));
        var chunk = new OllamaChunkParser().Parse(frame.AsSpan(0, frame.Length - 1));
        Assert.True(chunk.Done);
        Assert.Equal("budget exhausted", chunk.Error);
    }

    [Fact]
    public void AccountingPrefersReportedUsageAndOtherwiseEstimatesWithinBounds()
    {
        var parser = new OpenAiChunkParser();
        var accounting = new StreamAccounting();
        string[] deltas = ["Hello", " world", ", this", " is", " a", " stream", " of", " tokens", "."];
        foreach (var delta in deltas)
        {
            var json = Encoding.UTF8.GetBytes("{\"choices\":[{\"index\":0,\"delta\":{\"content\":" + JsonSerializer.Serialize(delta) + "}}]}");
            accounting.Observe(parser.Parse(json), json);
        }

        var bytes = deltas.Sum(d => Encoding.UTF8.GetByteCount(d));
        Assert.Equal(bytes, accounting.OutputBytes);
        Assert.Equal(deltas.Length, accounting.OutputChunks);
        Assert.InRange(accounting.EstimatedCompletionTokens, deltas.Length, bytes);
        Assert.Equal(accounting.EstimatedCompletionTokens, accounting.CompletionTokens);
        Assert.False(accounting.Completed);

        var usage = """{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":9}}"""u8;
        accounting.Observe(parser.Parse(usage), usage);
        accounting.Observe(parser.Parse("[DONE]"u8), "[DONE]"u8);

        Assert.Equal(9, accounting.CompletionTokens);
        Assert.Equal(5, accounting.ReportedPromptTokens);
        Assert.Equal("stop", accounting.FinishReason);
        Assert.True(accounting.Completed);
    }

    [Fact]
    public void AnUpstreamErrorEndsAccountingWithFinishReasonError()
    {
        var accounting = new StreamAccounting();
        var line = """{"error":"out of memory"}"""u8;
        accounting.Observe(new OllamaChunkParser().Parse(line), line);

        Assert.Equal("error", accounting.FinishReason);
        Assert.Equal("out of memory", accounting.UpstreamError);
    }

    [Fact]
    public void AnUpstreamLoneSurrogateIsReadAsAReplacementCharacterNotAnException()
    {
        var json = """{"choices":[{"index":0,"delta":{"content":"a\udc00b"}}]}"""u8.ToArray();
        var chunk = new OpenAiChunkParser().Parse(json);
        var accounting = new StreamAccounting();

        accounting.Observe(chunk, json);

        Assert.Equal("a\uFFFDb", chunk.Content[0].GetText(json));
        Assert.Equal(5, accounting.OutputBytes);
    }
}

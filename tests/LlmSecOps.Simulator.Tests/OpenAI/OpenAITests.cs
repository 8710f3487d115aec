using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace LlmSecOps.Simulator.Tests.OpenAI;

public sealed class OpenAITests
{
    private const string Messages = "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Say hello\"}]}]";

    [Fact]
    public async Task ChatCompletionIsNotStreamedByDefaultAndHasOpenAIsShapeAndUsage()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}}}""");
        var body = await response.JsonAsync();

        Assert.Equal("application/json", response.MediaType());
        Assert.Equal(["id", "object", "created", "model", "system_fingerprint", "choices", "usage"], body.Names());
        Assert.StartsWith("chatcmpl-", (string?)body["id"], StringComparison.Ordinal);
        Assert.Equal("chat.completion", (string?)body["object"]);
        var choice = body["choices"]![0]!.AsObject();
        Assert.Equal(["index", "message", "logprobs", "finish_reason"], choice.Names());
        Assert.Equal("assistant", (string?)choice["message"]!["role"]);
        Assert.Equal("stop", (string?)choice["finish_reason"]);
        Assert.Equal(24, ((string)choice["message"]!["content"]!).Split(' ').Length);
        var usage = body["usage"]!.AsObject();
        Assert.Equal(5, (int)usage["prompt_tokens"]!); // "Be brief." + "Say hello" = 18 bytes -> 5
        Assert.Equal(24, (int)usage["completion_tokens"]!);
        Assert.Equal(29, (int)usage["total_tokens"]!);
    }

    [Theory]
    [InlineData("max_tokens")]
    [InlineData("max_completion_tokens")]
    public async Task TokenLimitCutsTheTextAndReportsFinishReasonLength(string field)
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}},"{{field}}":7}""")).JsonAsync();

        Assert.Equal("length", (string?)body["choices"]![0]!["finish_reason"]);
        Assert.Equal(7, (int)body["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task WithBothLimitsTheSmallerApplies()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/v1/chat/completions",
            $$"""{"model":"llama3.2:1b",{{Messages}},"max_tokens":9,"max_completion_tokens":4}""")).JsonAsync();

        Assert.Equal(4, (int)body["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task NChoicesEachGetTheirOwnTextAndUsageCountsThemAll()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}},"n":3,"max_tokens":6}""")).JsonAsync();

        var choices = body["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => (int)c!["index"]!));
        Assert.Equal(3, choices.Select(c => (string?)c!["message"]!["content"]).Distinct().Count());
        Assert.Equal(18, (int)body["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task StreamedChatSendsRoleThenOneTokenPerChunkThenFinishReasonThenDone()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}},"stream":true,"max_tokens":3}""");
        var events = await response.SseDataAsync();

        Assert.Equal("text/event-stream", response.MediaType());
        Assert.Equal(6, events.Length); // role, 3 tokens, finish, [DONE]
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToArray();
        Assert.All(chunks, c =>
        {
            Assert.Equal(["id", "object", "created", "model", "system_fingerprint", "choices"], c.Names());
            Assert.Equal("chat.completion.chunk", (string?)c["object"]);
            Assert.Equal((string?)chunks[0]["id"], (string?)c["id"]);
        });
        Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
        Assert.All(chunks[1..4], c => Assert.False(string.IsNullOrEmpty((string?)c["choices"]![0]!["delta"]!["content"])));
        Assert.Empty(chunks[4]["choices"]![0]!["delta"]!.AsObject());
        Assert.Equal("length", (string?)chunks[4]["choices"]![0]!["finish_reason"]);
    }

    [Fact]
    public async Task IncludeUsageAddsNullUsageToEveryChunkAndAFinalUsageChunkWithNoChoices()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/v1/chat/completions",
            $$"""{"model":"llama3.2:1b",{{Messages}},"stream":true,"stream_options":{"include_usage":true},"n":2,"max_tokens":2}""");
        var events = await response.SseDataAsync();

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToArray();
        Assert.All(chunks[..^1], c => Assert.Null(c["usage"]));
        Assert.All(chunks[..^1], c => Assert.True(c.ContainsKey("usage")));
        var last = chunks[^1];
        Assert.Empty(last["choices"]!.AsArray());
        Assert.Equal(4, (int)last["usage"]!["completion_tokens"]!);
        Assert.Equal((int)last["usage"]!["prompt_tokens"]! + 4, (int)last["usage"]!["total_tokens"]!);
        var text0 = string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Where(c => (int)c!["index"]! == 0).Select(c => (string?)c!["delta"]!["content"]));
        var whole = await (await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}},"n":2,"max_tokens":2}""")).JsonAsync();
        Assert.Equal((string?)whole["choices"]![0]!["message"]!["content"], text0);
    }

    [Theory]
    [InlineData("\"max_tokens\":0", "max_tokens", "integer_below_min_value")]
    [InlineData("\"max_tokens\":\"5\"", "max_tokens", "invalid_type")]
    [InlineData("\"max_completion_tokens\":2.5", "max_completion_tokens", "invalid_type")]
    [InlineData("\"n\":0", "n", "integer_below_min_value")]
    [InlineData("\"stream_options\":{\"include_usage\":true}", "stream_options", null)]
    public async Task InvalidParametersGetOpenAIErrorObjects(string fragment, string param, string? code)
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"llama3.2:1b",{{Messages}},{{fragment}}}""");
        var error = (await response.JsonAsync())["error"]!.AsObject();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(["message", "type", "param", "code"], error.Names());
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Equal(param, (string?)error["param"]);
        Assert.Equal(code, (string?)error["code"]);
    }

    [Fact]
    public async Task UnknownModelIsA404WithCodeModelNotFound()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/v1/chat/completions", $$"""{"model":"gpt-4o",{{Messages}}}""");
        var error = (await response.JsonAsync())["error"]!.AsObject();

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("model_not_found", (string?)error["code"]);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.Null(error["param"]);
        Assert.Contains("gpt-4o", (string?)error["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task LegacyCompletionsStreamAndNot()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/v1/completions", """{"model":"qwen2.5:0.5b","prompt":"Once upon","max_tokens":5}""")).JsonAsync();
        using var streamed = await client.PostJsonAsync("/v1/completions",
            """{"model":"qwen2.5:0.5b","prompt":"Once upon","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}""");
        var events = await streamed.SseDataAsync();

        Assert.Equal("text_completion", (string?)body["object"]);
        Assert.StartsWith("cmpl-", (string?)body["id"], StringComparison.Ordinal);
        Assert.Equal(["index", "text", "logprobs", "finish_reason"], body["choices"]![0]!.AsObject().Names());
        Assert.Equal("length", (string?)body["choices"]![0]!["finish_reason"]);
        Assert.Equal(3, (int)body["usage"]!["prompt_tokens"]!);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToArray();
        var text = string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => (string?)c!["text"]));
        Assert.Equal((string?)body["choices"]![0]!["text"], text);
        Assert.Equal(5, (int)chunks[^1]["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task EmbeddingsAsFloatsAndAsBase64AreTheSameUnitVector()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var floats = await (await client.PostJsonAsync("/v1/embeddings", """{"model":"nomic-embed-text","input":["alpha","beta"]}""")).JsonAsync();
        var base64 = await (await client.PostJsonAsync("/v1/embeddings", """{"model":"nomic-embed-text","input":["alpha","beta"],"encoding_format":"base64"}""")).JsonAsync();

        Assert.Equal(["object", "data", "model", "usage"], floats.Names());
        Assert.Equal("list", (string?)floats["object"]);
        var vector = floats["data"]![0]!["embedding"]!.AsArray().Select(v => (float)v!).ToArray();
        var decoded = MemoryMarshal.Cast<byte, float>(Convert.FromBase64String((string)base64["data"]![0]!["embedding"]!)).ToArray();
        Assert.Equal(768, vector.Length);
        Assert.Equal(vector, decoded);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => (double)v * v)), 4);
        Assert.Equal(3, (int)floats["usage"]!["prompt_tokens"]!); // ceil(5/4) + ceil(4/4)
        Assert.Equal(3, (int)floats["usage"]!["total_tokens"]!);
    }

    [Fact]
    public async Task ModelsListsTheCatalogueAndGetsOneModel()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var list = await (await client.GetAsync("/v1/models")).JsonAsync();
        var one = await (await client.GetAsync("/v1/models/qwen2.5:0.5b")).JsonAsync();
        using var missing = await client.GetAsync("/v1/models/nope");

        Assert.Equal("list", (string?)list["object"]);
        Assert.Equal(3, list["data"]!.AsArray().Count);
        Assert.All(list["data"]!.AsArray(), m => Assert.Equal(["id", "object", "created", "owned_by"], m!.AsObject().Names()));
        Assert.Equal("qwen2.5:0.5b", (string?)one["id"]);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}

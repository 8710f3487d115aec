using System.Net;

namespace LlmSecOps.Simulator.Tests.Ollama;

public sealed class OllamaChatTests
{
    private const string Chat = """{"model":"llama3.2:1b","messages":[{"role":"user","content":"Why is the sky blue?"}]""";

    [Fact]
    public async Task ChatStreamsNdjsonByDefaultWithOneTokenPerLineAndAFinalDoneObject()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/chat", Chat + "}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.MediaType());
        var lines = await response.NdjsonAsync();
        Assert.Equal(25, lines.Length); // 24 tokens (the default) + the final object
        foreach (var line in lines[..^1])
        {
            Assert.Equal(["model", "created_at", "message", "done"], line.Names());
            Assert.Equal("llama3.2:1b", (string?)line["model"]);
            Assert.Equal("assistant", (string?)line["message"]!["role"]);
            Assert.False((bool)line["done"]!);
            Assert.False(string.IsNullOrEmpty((string?)line["message"]!["content"]));
        }

        var final = lines[^1];
        Assert.Equal(
            ["model", "created_at", "message", "done", "done_reason", "total_duration", "load_duration", "prompt_eval_count",
             "prompt_eval_duration", "eval_count", "eval_duration"],
            final.Names());
        Assert.True((bool)final["done"]!);
        Assert.Equal("stop", (string?)final["done_reason"]);
        Assert.Equal("", (string?)final["message"]!["content"]);
        Assert.Equal(24, (int)final["eval_count"]!);
        Assert.Equal(5, (int)final["prompt_eval_count"]!); // "Why is the sky blue?" = 20 UTF-8 bytes -> ceil(20/4)
        Assert.True((long)final["total_duration"]! > 0 && (long)final["eval_duration"]! > 0 && (long)final["prompt_eval_duration"]! > 0);
        Assert.True(DateTimeOffset.TryParse((string?)final["created_at"], out _));
    }

    [Fact]
    public async Task NonStreamingChatReturnsTheSameTextAsTheConcatenatedStream()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var streamed = await client.PostJsonAsync("/api/chat", Chat + "}");
        var text = string.Concat((await streamed.NdjsonAsync()).Select(l => (string?)l["message"]!["content"]));
        using var single = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false}""");
        var body = await single.JsonAsync();

        Assert.Equal("application/json", single.MediaType());
        Assert.Equal(text, (string?)body["message"]!["content"]);
        Assert.True((bool)body["done"]!);
        Assert.Equal("stop", (string?)body["done_reason"]);
        Assert.Equal(24, (int)body["eval_count"]!);
        Assert.EndsWith(".", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NumPredictLimitsTheTokensAndReportsDoneReasonLength()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var limited = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false,"options":{"num_predict":5}}""");
        using var full = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false}""");
        var l = await limited.JsonAsync();
        var f = await full.JsonAsync();

        Assert.Equal("length", (string?)l["done_reason"]);
        Assert.Equal(5, (int)l["eval_count"]!);
        Assert.Equal(5, ((string)l["message"]!["content"]!).Split(' ').Length);
        Assert.StartsWith((string)l["message"]!["content"]!, (string)f["message"]!["content"]!, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("-2")]
    [InlineData("0")]
    [InlineData("1000")]
    public async Task NumPredictThatSetsNoEffectiveLimitEndsWithStop(string numPredict)
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/chat", Chat + $$$""","stream":false,"options":{"num_predict":{{{numPredict}}}}}""");
        var body = await response.JsonAsync();

        Assert.Equal("stop", (string?)body["done_reason"]);
        Assert.Equal(24, (int)body["eval_count"]!);
    }

    [Fact]
    public async Task FractionalNumPredictIsTruncatedAndAStringIsRefusedLikeOllama()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var fractional = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false,"options":{"num_predict":3.9}}""");
        using var text = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false,"options":{"num_predict":"3"}}""");

        Assert.Equal(3, (int)(await fractional.JsonAsync())["eval_count"]!);
        Assert.Equal(HttpStatusCode.BadRequest, text.StatusCode);
        Assert.Equal("option \"num_predict\" must be of type integer", (string?)(await text.JsonAsync())["error"]);
    }

    [Fact]
    public async Task ARepeatedJsonKeyIsReadLastWinsLikeGoAndPython()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/chat", Chat + ""","stream":false,"options":{"num_predict":100,"num_predict":2}}""");

        Assert.Equal(2, (int)(await response.JsonAsync())["eval_count"]!);
    }

    [Fact]
    public async Task TextIsDeterministicAndDependsOnModelPromptAndSeed()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        async Task<string> TextAsync(string model, string content, int seed)
        {
            using var r = await client.PostJsonAsync("/api/chat",
                $$"""{"model":"{{model}}","stream":false,"options":{"seed":{{seed}}},"messages":[{"role":"user","content":"{{content}}"}]}""");
            return (string)(await r.JsonAsync())["message"]!["content"]!;
        }

        var a = await TextAsync("llama3.2:1b", "hello", 1);
        Assert.Equal(a, await TextAsync("llama3.2:1b", "hello", 1));
        Assert.NotEqual(a, await TextAsync("qwen2.5:0.5b", "hello", 1));
        Assert.NotEqual(a, await TextAsync("llama3.2:1b", "hello!", 1));
        Assert.NotEqual(a, await TextAsync("llama3.2:1b", "hello", 2));
    }

    [Fact]
    public async Task TheSameConversationGetsTheSameTextInEveryProcessAndThroughBothApis()
    {
        // A golden value: the generator must not depend on per-process state (e.g. randomised string hashing).
        const string Expected = "Chunks is upstream while it that upstream window simulated quick. With that";
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var ollama = await (await client.PostJsonAsync("/api/chat",
            """{"model":"llama3.2:1b","stream":false,"messages":[{"role":"user","content":"hello"}],"options":{"num_predict":12}}""")).JsonAsync();
        var openai = await (await client.PostJsonAsync("/v1/chat/completions",
            """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hello"}],"max_tokens":12}""")).JsonAsync();

        Assert.Equal(Expected, (string?)ollama["message"]!["content"]);
        Assert.Equal(Expected, (string?)openai["choices"]![0]!["message"]!["content"]);
    }

    [Fact]
    public async Task UnknownModelGetsOllamas404Message()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/chat", """{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}""");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal(["error"], body.Names());
        Assert.Equal("model \"gpt-9\" not found, try pulling it first", (string?)body["error"]);
    }

    [Theory]
    [InlineData("llama3.2:1b")]
    [InlineData("LLAMA3.2:1B")]
    [InlineData("registry.ollama.ai/library/llama3.2:1b")]
    public async Task ModelNamesAreNormalisedLikeOllama(string name)
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/generate", $$"""{"model":"{{name}}","prompt":"hi","stream":false}""");
        using var latest = await client.PostJsonAsync("/api/embed", """{"model":"nomic-embed-text","input":"hi"}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(name, (string?)(await response.JsonAsync())["model"]); // echoed as the client spelled it
        Assert.Equal(HttpStatusCode.OK, latest.StatusCode); // "nomic-embed-text" == "nomic-embed-text:latest"
    }

    [Fact]
    public async Task EmbeddingModelRefusesChatAndGenerate()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var chat = await client.PostJsonAsync("/api/chat", """{"model":"nomic-embed-text","messages":[{"role":"user","content":"hi"}]}""");
        using var generate = await client.PostJsonAsync("/api/generate", """{"model":"nomic-embed-text","prompt":"hi"}""");

        Assert.Equal(HttpStatusCode.BadRequest, chat.StatusCode);
        Assert.Equal("\"nomic-embed-text\" does not support chat", (string?)(await chat.JsonAsync())["error"]);
        Assert.Equal("\"nomic-embed-text\" does not support generate", (string?)(await generate.JsonAsync())["error"]);
    }

    [Fact]
    public async Task BadRequestsGetOllamaErrorsAndNoGeneration()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var noModel = await client.PostJsonAsync("/api/chat", """{"messages":[]}""");
        using var empty = await client.PostAsync("/api/chat", null);
        using var broken = await client.PostJsonAsync("/api/chat", "{\"model\":");

        Assert.Equal(HttpStatusCode.BadRequest, noModel.StatusCode);
        Assert.Equal("model is required", (string?)(await noModel.JsonAsync())["error"]);
        Assert.Equal("missing request body", (string?)(await empty.JsonAsync())["error"]);
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        Assert.NotNull((string?)(await broken.JsonAsync())["error"]);
    }

    [Fact]
    public async Task EmptyMessagesLoadTheModelAndKeepAliveZeroUnloadsIt()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var load = await client.PostJsonAsync("/api/chat", """{"model":"llama3.2:1b","messages":[]}""");
        var loaded = await (await client.GetAsync("/api/ps")).JsonAsync();
        using var unload = await client.PostJsonAsync("/api/generate", """{"model":"llama3.2:1b","keep_alive":0}""");
        var afterUnload = await (await client.GetAsync("/api/ps")).JsonAsync();

        Assert.Equal("load", (string?)(await load.JsonAsync())["done_reason"]);
        Assert.Equal("llama3.2:1b", (string?)loaded["models"]![0]!["name"]);
        Assert.Equal(["name", "model", "size", "digest", "details", "expires_at", "size_vram", "context_length"], loaded["models"]![0]!.AsObject().Names());
        Assert.Equal("unload", (string?)(await unload.JsonAsync())["done_reason"]);
        Assert.Empty(afterUnload["models"]!.AsArray());
    }

    [Fact]
    public async Task GenerateAnswersWithResponseFieldsAndCountsSystemAndPrompt()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/generate",
            """{"model":"qwen2.5:0.5b","system":"12345678","prompt":"abcd","options":{"num_predict":4}}""");
        var lines = await response.NdjsonAsync();

        Assert.Equal(5, lines.Length);
        Assert.All(lines[..^1], l => Assert.Equal(["model", "created_at", "response", "done"], l.Names()));
        Assert.Equal("length", (string?)lines[^1]["done_reason"]);
        Assert.Equal(3, (int)lines[^1]["prompt_eval_count"]!); // 12 bytes / 4
        Assert.Equal(4, (int)lines[^1]["eval_count"]!);
        Assert.Equal(3 + 4, lines[^1]["context"]!.AsArray().Count); // prompt + completion token ids
    }

    [Fact]
    public async Task RawGenerateHasNoContextArray()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/api/generate", """{"model":"qwen2.5:0.5b","prompt":"abcd","raw":true,"stream":false}""")).JsonAsync();

        Assert.False(body.ContainsKey("context"));
        Assert.Equal("stop", (string?)body["done_reason"]);
    }

    [Fact]
    public async Task OllamaEmbedReturnsDeterministicUnitVectorsOfTheModelsDimension()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var response = await client.PostJsonAsync("/api/embed", """{"model":"nomic-embed-text:latest","input":["first text","second"]}""");
        using var again = await client.PostJsonAsync("/api/embed", """{"model":"nomic-embed-text:latest","input":"first text"}""");
        using var small = await client.PostJsonAsync("/api/embed", """{"model":"nomic-embed-text:latest","input":"x","dimensions":16}""");
        using var legacy = await client.PostJsonAsync("/api/embeddings", """{"model":"nomic-embed-text:latest","prompt":"first text"}""");
        var body = await response.JsonAsync();

        Assert.Equal(["model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"], body.Names());
        var vectors = body["embeddings"]!.AsArray();
        Assert.Equal(2, vectors.Count);
        var first = vectors[0]!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(768, first.Length);
        Assert.Equal(1.0, Math.Sqrt(first.Sum(v => v * v)), 4);
        Assert.Equal(first, (await again.JsonAsync())["embeddings"]![0]!.AsArray().Select(v => (double)v!).ToArray());
        Assert.NotEqual(first, vectors[1]!.AsArray().Select(v => (double)v!).ToArray());
        Assert.Equal(5, (int)body["prompt_eval_count"]!); // ceil(10/4) + ceil(6/4)
        Assert.Equal(16, (await small.JsonAsync())["embeddings"]![0]!.AsArray().Count);
        Assert.Equal(first, (await legacy.JsonAsync())["embedding"]!.AsArray().Select(v => (double)v!).ToArray());
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace LlmSecOps.Simulator.Tests.Ollama;

public sealed partial class OllamaModelRoutesTests
{
    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Hex64();

    [Fact]
    public async Task TagsListsEveryModelShapedLikeOllamaWithSha256Digests()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.GetAsync("/api/tags")).JsonAsync();

        var models = body["models"]!.AsArray();
        Assert.Equal(["llama3.2:1b", "nomic-embed-text:latest", "qwen2.5:0.5b"], models.Select(m => (string?)m!["name"]));
        foreach (var model in models)
        {
            var m = model!.AsObject();
            Assert.Equal(["name", "model", "modified_at", "size", "digest", "details"], m.Names());
            Assert.Matches(Hex64(), (string?)m["digest"]);
            Assert.True((long)m["size"]! > 0);
            Assert.Equal(["parent_model", "format", "family", "families", "parameter_size", "quantization_level"], m["details"]!.AsObject().Names());
            Assert.Equal("gguf", (string?)m["details"]!["format"]);
        }

        Assert.Equal("Q8_0", (string?)models[0]!["details"]!["quantization_level"]);
    }

    [Fact]
    public async Task ShowDescribesAModelAndVersionAndRootAnswer()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var show = await (await client.PostJsonAsync("/api/show", """{"model":"qwen2.5:0.5b"}""")).JsonAsync();
        var embedShow = await (await client.PostJsonAsync("/api/show", """{"name":"nomic-embed-text"}""")).JsonAsync();
        using var missing = await client.PostJsonAsync("/api/show", """{"model":"nope"}""");
        var version = await (await client.GetAsync("/api/version")).JsonAsync();
        var root = await client.GetStringAsync("/");
        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/version"));

        Assert.Equal(["license", "modelfile", "parameters", "template", "details", "model_info", "capabilities", "modified_at"], show.Names());
        Assert.Equal("qwen2", (string?)show["details"]!["family"]);
        Assert.Equal(494_030_000, (long)show["model_info"]!["general.parameter_count"]!);
        Assert.Equal(32_768, (int)show["model_info"]!["qwen2.context_length"]!);
        Assert.Equal("completion", (string?)show["capabilities"]![0]);
        Assert.Equal("embedding", (string?)embedShow["capabilities"]![0]);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Matches(@"^\d+\.\d+\.\d+$", (string?)version["version"]);
        Assert.Equal("Ollama is running", root);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
    }

    [Fact]
    public async Task PullStreamsProgressAndAddsTheModel()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var pull = await client.PostJsonAsync("/api/pull", """{"model":"phi3:mini"}""");
        var lines = await pull.NdjsonAsync();
        using var chat = await client.PostJsonAsync("/api/chat", """{"model":"phi3:mini","stream":false,"messages":[{"role":"user","content":"hi"}]}""");

        Assert.Equal("application/x-ndjson", pull.MediaType());
        Assert.Equal("pulling manifest", (string?)lines[0]["status"]);
        Assert.Contains(lines, l => l["digest"] is not null && (long)l["completed"]! == (long)l["total"]!);
        Assert.Equal("success", (string?)lines[^1]["status"]);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.NotNull(sim.State.Models.Find("phi3:mini"));
    }

    [Fact]
    public async Task NonStreamingPullAnswersOnlySuccess()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        var body = await (await client.PostJsonAsync("/api/pull", """{"model":"llama3.2:1b","stream":false}""")).JsonAsync();

        Assert.Equal("success", (string?)body["status"]);
    }

    [Fact]
    public async Task DeleteRemovesTheModelSoItIsNotFoundAfterwards()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var delete = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/delete")
        {
            Content = new StringContent("""{"model":"llama3.2:1b"}""", Encoding.UTF8, "application/json"),
        });
        using var again = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/delete")
        {
            Content = new StringContent("""{"model":"llama3.2:1b"}""", Encoding.UTF8, "application/json"),
        });
        using var chat = await client.PostJsonAsync("/api/chat", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}]}""");
        var tags = await (await client.GetAsync("/api/tags")).JsonAsync();

        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, chat.StatusCode);
        Assert.DoesNotContain(tags["models"]!.AsArray(), m => (string?)m!["name"] == "llama3.2:1b");
    }

    [Fact]
    public async Task CopyCreateAndPushBehaveLikeOllama()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var copy = await client.PostJsonAsync("/api/copy", """{"source":"llama3.2:1b","destination":"my-llama"}""");
        using var copyMissing = await client.PostJsonAsync("/api/copy", """{"source":"nope","destination":"x"}""");
        using var create = await client.PostJsonAsync("/api/create", """{"model":"pirate","from":"llama3.2:1b","system":"Arr","stream":false}""");
        using var createNothing = await client.PostJsonAsync("/api/create", """{"model":"empty"}""");
        using var push = await client.PostJsonAsync("/api/push", """{"model":"pirate"}""");

        Assert.Equal(HttpStatusCode.OK, copy.StatusCode);
        Assert.Equal(sim.State.Models.Find("llama3.2:1b")!.Digest, sim.State.Models.Find("my-llama:latest")!.Digest);
        Assert.Equal(HttpStatusCode.NotFound, copyMissing.StatusCode);
        Assert.Equal("success", (string?)(await create.JsonAsync())["status"]);
        Assert.NotEqual(sim.State.Models.Find("llama3.2:1b")!.Digest, sim.State.Models.Find("pirate")!.Digest);
        Assert.Equal(HttpStatusCode.BadRequest, createNothing.StatusCode);
        Assert.Equal("success", (string?)(await push.NdjsonAsync())[^1]["status"]);
    }

    [Fact]
    public async Task BlobsAreCheckedAgainstTheirDigest()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        var data = "GGUF not really"u8.ToArray();
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

        using var before = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/blobs/" + digest));
        using var wrong = await client.PostAsync("/api/blobs/sha256:" + new string('0', 64), new ByteArrayContent(data));
        using var upload = await client.PostAsync("/api/blobs/" + digest, new ByteArrayContent(data));
        using var after = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/api/blobs/" + digest));

        Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}

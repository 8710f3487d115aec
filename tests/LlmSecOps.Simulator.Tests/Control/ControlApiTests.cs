using System.Net;
using System.Text;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Simulator.Tests.Control;

public sealed class ControlApiTests
{
    [Fact]
    public async Task PutSwitchesMergesFieldsAndChangesBehaviour()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var put = await client.PutAsync("/_sim/switches", Json("""{"ignoreMaxTokens":true,"completionTokens":7}"""));
        var body = await (await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"x"}],"max_tokens":2}""")).JsonAsync();
        var switches = await (await client.GetAsync("/_sim/switches")).JsonAsync();

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(7, (int)body["usage"]!["completion_tokens"]!);
        Assert.True((bool)switches["ignoreMaxTokens"]!);
        Assert.Equal("abort", (string?)switches["failureMode"]);
        Assert.True(sim.State.Switches.IgnoreMaxTokens);
    }

    [Fact]
    public async Task BadSwitchesAreA400ListingEveryProblemAndChangeNothing()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var unknown = await client.PutAsync("/_sim/switches", Json("""{"ignoreMaxTokens":true,"nope":1,"completionTokens":"x"}"""));
        using var invalid = await client.PutAsync("/_sim/switches", Json("""{"ignoreMaxTokens":true,"completionTokens":0,"failStatusCode":99}"""));
        var unknownErrors = (await unknown.JsonAsync())["errors"]!.AsArray();
        var invalidErrors = (string?)(await invalid.JsonAsync())["errors"]![0];

        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(2, unknownErrors.Count);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("completionTokens", invalidErrors, StringComparison.Ordinal);
        Assert.Contains("failStatusCode", invalidErrors, StringComparison.Ordinal);
        Assert.False(sim.State.Switches.IgnoreMaxTokens);
    }

    [Fact]
    public async Task PutDigestChangesWhatTagsReports()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        var digest = "sha256:" + new string('b', 64);

        using var put = await client.PutAsync("/_sim/models/qwen2.5:0.5b/digest", Json($$"""{"digest":"{{digest}}"}"""));
        using var bad = await client.PutAsync("/_sim/models/qwen2.5:0.5b/digest", Json("""{"digest":"md5:1234"}"""));
        using var missing = await client.PutAsync("/_sim/models/nope/digest", Json($$"""{"digest":"{{digest}}"}"""));
        var tags = await (await client.GetAsync("/api/tags")).JsonAsync();

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(digest, (string?)(await put.JsonAsync())["digest"]);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(new string('b', 64), (string?)tags["models"]!.AsArray().Single(m => (string?)m!["name"] == "qwen2.5:0.5b")!["digest"]);
    }

    [Fact]
    public async Task ResetRestoresModelsSwitchesAndClearsTheLog()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        using var delete = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/delete") { Content = Json("""{"model":"llama3.2:1b"}""") });
        sim.State.UpdateSwitches(s => s with { FailStatusCode = 500 });

        using var reset = await client.PostAsync("/_sim/reset", null);

        Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        Assert.NotNull(sim.State.Models.Find("llama3.2:1b"));
        Assert.Null(sim.State.Switches.FailStatusCode);
        Assert.Empty(sim.State.Requests.Snapshot());
    }

    [Fact]
    public async Task ConfiguredModelsReplaceTheBuiltInCatalogue()
    {
        await using var sim = await SimulatorHost.StartAsync(configure: b =>
        {
            b.Configuration["Simulator:Models:0:Name"] = "tiny";
            b.Configuration["Simulator:Models:0:Digest"] = "sha256:" + new string('c', 64);
            b.Configuration["Simulator:Models:1:Name"] = "vec:small";
            b.Configuration["Simulator:Models:1:Kind"] = "embedding";
            b.Configuration["Simulator:Models:1:EmbeddingLength"] = "8";
            b.Configuration["Simulator:CompletionTokens"] = "3";
        });
        using var client = SimTest.Client(sim);

        var tags = await (await client.GetAsync("/api/tags")).JsonAsync();
        var chat = await (await client.PostJsonAsync("/api/chat", """{"model":"tiny","stream":false,"messages":[{"role":"user","content":"x"}]}""")).JsonAsync();
        var embed = await (await client.PostJsonAsync("/api/embed", """{"model":"vec:small","input":"x"}""")).JsonAsync();

        Assert.Equal(["tiny:latest", "vec:small"], tags["models"]!.AsArray().Select(m => (string?)m!["name"]));
        Assert.Equal(new string('c', 64), (string?)tags["models"]![0]!["digest"]);
        Assert.Equal(3, (int)chat["eval_count"]!);
        Assert.Equal(8, embed["embeddings"]![0]!.AsArray().Count);
    }

    [Fact]
    public async Task InvalidOptionsStopStartUpAndListEveryProblem()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => SimulatorHost.StartAsync(configure: b =>
        {
            b.Configuration["Simulator:CompletionTokens"] = "0";
            b.Configuration["Simulator:Models:0:Name"] = "a";
            b.Configuration["Simulator:Models:0:Digest"] = "nope";
            b.Configuration["Simulator:Models:1:Name"] = "A:latest";
        }));

        Assert.Equal(3, error.Failures.Count());
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}

using System.Net;
using System.Text;

namespace LlmSecOps.Simulator.Tests.Control;

/// <summary>The <c>scriptedTokens</c> switch: the "model" answers exactly the given chunks (for output-redaction tests).</summary>
public sealed class ScriptedTokensTests
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task ScriptedTokensAreStreamedOneChunkEachCutByTheLimitAndTurnedOffWithNull()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        using var put = await client.PutAsync("/_sim/switches", Json("""{"scriptedTokens":["Hello ","lso_live_","00 wor","ld."]}"""));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal(4, (await put.JsonAsync())["scriptedTokens"]!.AsArray().Count);

        var ndjson = await (await client.PostJsonAsync("/api/generate", """{"model":"llama3.2:1b","prompt":"hi"}""")).NdjsonAsync();
        Assert.Equal(["Hello ", "lso_live_", "00 wor", "ld.", ""], ndjson.Select(l => (string?)l["response"]));
        Assert.Equal(4, (int)ndjson[^1]["eval_count"]!);
        Assert.Equal("stop", (string?)ndjson[^1]["done_reason"]);

        var chat = await (await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}""")).JsonAsync();
        Assert.Equal("Hello lso_live_", (string?)chat["choices"]![0]!["message"]!["content"]);
        Assert.Equal("length", (string?)chat["choices"]![0]!["finish_reason"]);

        using var invalid = await client.PutAsync("/_sim/switches", Json("""{"scriptedTokens":[1,2]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        using var empty = await client.PutAsync("/_sim/switches", Json("""{"scriptedTokens":[]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);

        using var off = await client.PutAsync("/_sim/switches", Json("""{"scriptedTokens":null}"""));
        Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        var generated = await (await client.PostJsonAsync("/api/generate", """{"model":"llama3.2:1b","prompt":"hi","stream":false}""")).JsonAsync();
        Assert.DoesNotContain("lso_live_", (string?)generated["response"], StringComparison.Ordinal);
        Assert.Equal(24, (int)generated["eval_count"]!);
    }
}

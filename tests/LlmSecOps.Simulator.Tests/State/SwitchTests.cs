using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.Tests.State;

public sealed class SwitchTests
{
    private const string OllamaChat = """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":10}}""";
    private const string OpenAIChat = """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"stream":true}""";

    [Fact]
    public async Task IgnoreMaxTokensGeneratesTheNaturalLengthWhateverTheRequestAsks()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { IgnoreMaxTokens = true, CompletionTokens = 30 });

        var ollama = await (await client.PostJsonAsync("/api/chat", OllamaChat.Replace("}}", "},\"stream\":false}", StringComparison.Ordinal))).JsonAsync();
        var openai = await (await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"max_tokens":3}""")).JsonAsync();

        Assert.Equal(30, (int)ollama["eval_count"]!);
        Assert.Equal("stop", (string?)ollama["done_reason"]);
        Assert.Equal(30, (int)openai["usage"]!["completion_tokens"]!);
        Assert.Equal("stop", (string?)openai["choices"]![0]!["finish_reason"]);
    }

    [Fact]
    public async Task ChangingADigestShowsInTagsAndResetRestoresIt()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        var original = sim.State.Models.Find("llama3.2:1b")!.Digest;
        var changed = "sha256:" + new string('a', 64);

        Assert.True(sim.State.Models.SetDigest("llama3.2", changed) is false); // "llama3.2" is llama3.2:latest, not in the catalogue
        Assert.True(sim.State.Models.SetDigest("llama3.2:1b", changed));
        var tags = await (await client.GetAsync("/api/tags")).JsonAsync();
        sim.State.Reset();

        Assert.Equal(new string('a', 64), (string?)tags["models"]!.AsArray().Single(m => (string?)m!["name"] == "llama3.2:1b")!["digest"]);
        Assert.Equal(original, sim.State.Models.Find("llama3.2:1b")!.Digest);
    }

    [Fact]
    public async Task FailMidStreamAbortDropsTheConnectionAfterTheGivenTokens()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailMidStreamAfterTokens = 3, FailureMode = FailureMode.Abort });

        var (lines, error) = await ReadLinesAsync(client, "/api/chat", OllamaChat, TimeSpan.FromSeconds(10));

        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.False((bool)JsonNode.Parse(l)!["done"]!));
        Assert.True(error is HttpRequestException or IOException, $"expected a broken connection, got {error?.GetType().Name ?? "a clean end"}");
    }

    [Fact]
    public async Task FailMidStreamErrorFrameEndsNdjsonWithAnErrorLineAndNoDone()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailMidStreamAfterTokens = 2, FailureMode = FailureMode.ErrorFrame });

        var lines = await (await client.PostJsonAsync("/api/chat", OllamaChat)).NdjsonAsync();

        Assert.Equal(3, lines.Length);
        Assert.NotNull((string?)lines[^1]["error"]);
        Assert.DoesNotContain(lines, l => l["done"] is JsonValue v && (bool)v);
    }

    [Fact]
    public async Task FailMidStreamErrorFrameEndsSseWithAnErrorEventAndNoDone()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailMidStreamAfterTokens = 2, FailureMode = FailureMode.ErrorFrame });

        var events = await (await client.PostJsonAsync("/v1/chat/completions", OpenAIChat)).SseDataAsync();

        Assert.DoesNotContain("[DONE]", events);
        Assert.Equal("server_error", (string?)JsonNode.Parse(events[^1])!["error"]!["type"]);
        Assert.Equal(4, events.Length); // role chunk, 2 tokens, error
    }

    [Fact]
    public async Task FailMidStreamMakesANonStreamingRequestFailWhenTheAnswerIsLongerThanThat()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailMidStreamAfterTokens = 5, FailureMode = FailureMode.ErrorFrame });

        using var failing = await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}]}""");
        using var shortEnough = await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}],"max_tokens":4}""");

        Assert.Equal(HttpStatusCode.InternalServerError, failing.StatusCode);
        Assert.Equal(HttpStatusCode.OK, shortEnough.StatusCode);
    }

    [Fact]
    public async Task StallKeepsTheConnectionOpenWithoutSendingMore()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 2 });

        var (lines, error) = await ReadLinesAsync(client, "/api/chat", OllamaChat, TimeSpan.FromSeconds(2));

        Assert.Equal(2, lines.Count);
        Assert.IsAssignableFrom<OperationCanceledException>(error); // still open, nothing more came: our own timeout ended it
    }

    [Fact]
    public async Task AStalledStreamDoesNotKeepTheSimulatorFromStopping()
    {
        var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 1 });
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/chat") { Content = Json(OllamaChat) },
            HttpCompletionOption.ResponseHeadersRead);

        var stopwatch = Stopwatch.StartNew();
        await sim.DisposeAsync();

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(4), $"stopping took {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task FailStatusCodeAnswersInEachApisFormatForTheGivenNumberOfRequests()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailStatusCode = 503, FailStatusCount = 2 });

        using var first = await client.PostJsonAsync("/v1/chat/completions", """{"model":"llama3.2:1b","messages":[{"role":"user","content":"hi"}]}""");
        using var second = await client.GetAsync("/api/tags");
        using var third = await client.GetAsync("/api/tags");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, first.StatusCode);
        Assert.Equal("service_unavailable", (string?)(await first.JsonAsync())["error"]!["code"]);
        Assert.Equal(TimeSpan.FromSeconds(1), first.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.NotNull((string?)(await second.JsonAsync())["error"]);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    [Fact]
    public async Task ChangingAnotherSwitchDoesNotRestartTheFailStatusCountdown()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { FailStatusCode = 500, FailStatusCount = 1 });

        using var first = await client.GetAsync("/api/version");
        sim.State.UpdateSwitches(s => s with { CompletionTokens = 5 });
        using var second = await client.GetAsync("/api/version");

        Assert.Equal(HttpStatusCode.InternalServerError, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
    }

    [Fact]
    public async Task TokensPerSecondAndFirstTokenDelayPaceTheStream()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        sim.State.UpdateSwitches(s => s with { TokensPerSecond = 50, FirstTokenDelayMs = 300 });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/chat") { Content = Json(OllamaChat) };

        var stopwatch = Stopwatch.StartNew();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        await reader.ReadLineAsync();
        var firstToken = stopwatch.Elapsed;
        await reader.ReadToEndAsync();
        var total = stopwatch.Elapsed;

        // Due: first token at 300 ms, then one every 20 ms (10 tokens + the final line at 300 + 200 ms). Generous bounds.
        Assert.True(firstToken >= TimeSpan.FromMilliseconds(250), $"first token after {firstToken.TotalMilliseconds} ms");
        Assert.True(total >= TimeSpan.FromMilliseconds(450), $"stream took {total.TotalMilliseconds} ms");
        Assert.True(total < TimeSpan.FromSeconds(10), $"stream took {total.TotalMilliseconds} ms");
    }

    [Fact]
    public void InvalidSwitchValuesAreRefusedAndChangeNothing()
    {
        var state = new SimulatorState(Microsoft.Extensions.Options.Options.Create(new SimulatorOptions()), TimeProvider.System);

        var error = Assert.Throws<ArgumentException>(() => state.UpdateSwitches(s => s with { CompletionTokens = 0, FailStatusCode = 200 }));

        Assert.Contains("completionTokens", error.Message, StringComparison.Ordinal);
        Assert.Contains("failStatusCode", error.Message, StringComparison.Ordinal);
        Assert.Equal(24, state.Switches.CompletionTokens);
        Assert.Null(state.Switches.FailStatusCode);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    /// <summary>Reads NDJSON lines until the stream ends, breaks, or <paramref name="timeout"/> passes.</summary>
    private static async Task<(List<string> Lines, Exception? Error)> ReadLinesAsync(HttpClient client, string path, string body, TimeSpan timeout)
    {
        var lines = new List<string>();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) },
                HttpCompletionOption.ResponseHeadersRead, cts.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
            while (await reader.ReadLineAsync(cts.Token) is { } line)
            {
                lines.Add(line);
            }

            return (lines, null);
        }
        catch (Exception ex)
        {
            return (lines, ex);
        }
    }
}

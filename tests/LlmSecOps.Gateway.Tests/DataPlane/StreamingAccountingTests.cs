using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// Token accounting of streamed responses under a budget: the budget guard cuts a stream only when the upstream runs
/// past what was reserved, never a stream that stays within its max_tokens while the budget has room.
/// </summary>
public sealed class StreamingAccountingTests
{
    // The benchmark's set-up (bench/gateway/bench.py): a generous tier, and daily/monthly budgets on the key and the
    // tenant far above anything the test spends, so every request reserves and settles budget.
    private static readonly object s_benchTier = new
    {
        allowedModels = new[] { "*" }, defaultMaxTokens = 256, maxMaxTokens = 4096, requestsPerMinute = 100_000_000, tokensPerMinute = 100_000_000, concurrency = 100_000,
    };

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<DataPlaneFixture> StartWithHugeBudgetsAsync()
    {
        var f = await DataPlaneFixture.StartAsync(tier: s_benchTier);
        using var admin = f.Gateway.Admin();
        var budget = new { dailyTokens = 10_000_000_000_000L, monthlyTokens = 100_000_000_000_000L };
        (await admin.PutAsJsonAsync($"/admin/tenants/{f.TenantId}/budget", budget)).EnsureSuccessStatusCode();
        (await admin.PutAsJsonAsync($"/admin/keys/{f.KeyId}/budget", budget)).EnsureSuccessStatusCode();
        return f;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    public async Task AStreamWithinItsMaxTokensIsNeverCutWhenTheBudgetHasRoom(int tokensPerSecond)
    {
        // Found by the gateway benchmark: every SSE stream with max_tokens 8 ended with a budget_exhausted error
        // frame after its first token although the budget was 10^13 tokens.
        await using var f = await StartWithHugeBudgetsAsync();
        f.Simulator.State.UpdateSwitches(s => s with { TokensPerSecond = tokensPerSecond });
        using var client = f.Client();
        foreach (var (path, body) in new[]
        {
            ("/v1/chat/completions", $$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":8,"stream":true}"""),
            ("/v1/chat/completions", $$$"""{"model":"{{{DataPlaneFixture.Model}}}","messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}"""),
            ("/v1/completions", $$"""{"model":"{{DataPlaneFixture.Model}}","prompt":"Say hello to the benchmark.","max_tokens":8,"stream":true}"""),
            ("/api/chat", $$"""{"model":"{{DataPlaneFixture.Model}}","options":{"num_predict":8},"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"""),
            ("/api/generate", $$"""{"model":"{{DataPlaneFixture.Model}}","options":{"num_predict":8},"prompt":"Say hello to the benchmark."}"""),
        })
        {
            var response = await client.PostAsync(path, JsonBody(body));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, path + ": " + text);
            Assert.False(text.Contains("\"error\"", StringComparison.Ordinal), path + " was cut: " + text);
        }

        var events = await f.EventsAsync(5);
        Assert.Equal(5, events.Count);
        Assert.All(events, e => Assert.Equal("ok", e["outcome"]));
        Assert.All(events, e => Assert.Equal("200", e["status"]));
        Assert.All(events, e => Assert.InRange(long.Parse(e["completion_tokens"], CultureInfo.InvariantCulture), 1, 8));
    }

    [Fact]
    public async Task AClientThatClosesTheConnectionMidStreamIsRecordedAsAClientDisconnectNotAnUpstreamError()
    {
        await using var f = await StartWithHugeBudgetsAsync();
        // The upstream sends three tokens, then holds the stream open until its client (the gateway) goes away.
        f.Simulator.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 3 });
        using (var socket = await SendRawAsync(f, $$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":64,"stream":true}"""))
        {
            await ReadUntilAsync(socket, "\"content\":\"", occurrences: 2); // the role chunk's empty content, then a token
        }

        var e = Assert.Single(await f.EventsAsync(1));
        Assert.Equal("499", e["status"]);
        Assert.Equal("ok", e["outcome"]);
        Assert.Equal("client_closed", e["finish_reason"]);
        Assert.Equal("1", e["stream"]);
        Assert.InRange(long.Parse(e["completion_tokens"], CultureInfo.InvariantCulture), 1, 64);
    }

    [Fact]
    public async Task AClientThatClosesTheConnectionBeforeTheAnswerIsRecordedAsAClientDisconnectAndChargedWhatWasReserved()
    {
        await using var f = await StartWithHugeBudgetsAsync();
        // The upstream takes a minute to answer: the client gives up first.
        f.Simulator.State.UpdateSwitches(s => s with { FirstTokenDelayMs = 60_000 });
        using (await SendRawAsync(f, $$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":40}"""))
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (f.UpstreamRequests().Count == 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the request never reached the upstream");
                await Task.Delay(20);
            }
        }

        var e = Assert.Single(await f.EventsAsync(1));
        Assert.Equal("499", e["status"]);
        Assert.Equal("ok", e["outcome"]);
        Assert.Equal("client_closed", e["finish_reason"]);
        // What the upstream generated before it saw the disconnect is unknown: the reserved max_tokens is settled.
        Assert.Equal("40", e["completion_tokens"]);
    }

    /// <summary>Sends one chat request on a raw HTTP/1.1 connection (so the test decides exactly when it closes).</summary>
    private static async Task<Socket> SendRawAsync(DataPlaneFixture f, string body)
    {
        var url = new Uri(f.Gateway.DataUrl);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, url.Port);
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = $"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{url.Port}\r\nAuthorization: Bearer {f.Key}\r\n" +
                   $"Content-Type: application/json\r\nContent-Length: {bytes.Length}\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head).Concat(bytes).ToArray());
        return socket;
    }

    private static async Task ReadUntilAsync(Socket socket, string marker, int occurrences)
    {
        var received = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (CountOf(received.ToString(), marker) < occurrences)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(read > 0, "the gateway closed the connection first: " + received);
            received.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        Assert.StartsWith("HTTP/1.1 200", received.ToString(), StringComparison.Ordinal);
    }

    private static int CountOf(string text, string marker)
    {
        var count = 0;
        for (var i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + marker.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}

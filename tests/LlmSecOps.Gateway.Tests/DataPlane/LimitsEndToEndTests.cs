using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Redis;
using LlmSecOps.Simulator;
using LlmSecOps.Testing;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// The limit paths end to end (issue 4 point 3): the tenant's in-flight cap, tokens per minute per key, leases of a
/// killed gateway expiring, and leases renewed while a long stream still flows. Real gateway(s), Redis, Postgres and
/// the simulator; requests are held in flight with the simulator's stall switch, never with sleeps.
/// </summary>
public sealed class LimitsEndToEndTests
{
    private static object Tier(int concurrency = 10, int tokensPerMinute = 10_000_000, int defaultMaxTokens = 16, int maxMaxTokens = 32) => new
    {
        allowedModels = new[] { "*" }, defaultMaxTokens, maxMaxTokens, requestsPerMinute = 100_000, tokensPerMinute, concurrency,
    };

    [Fact]
    public async Task TheTenantsInFlightCapAnswers429ConcurrencyLimitExceededInBothFormatsAndTheSlotsComeBackWhenTheRequestsEnd()
    {
        await using var f = await DataPlaneFixture.StartAsync(tier: Tier(concurrency: 2));
        f.Simulator.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 1 });
        using var held = Kit.StreamingClient(f.Gateway.DataUrl, f.Key);
        using var first = await Kit.StartStreamAsync(held);
        using var second = await Kit.StartStreamAsync(held);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(2, await Kit.LeasesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId));

        // The cap is the tenant's: another key of the same tenant is refused too, before anything reaches the upstream.
        var (_, otherKey) = await f.Gateway.IssueKeyAsync(f.TenantId);
        using var other = f.Client(otherKey);
        var refused = await other.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var error = (await refused.ReadAsync()).GetProperty("error");
        Assert.Equal("concurrency_limit_exceeded", error.Str("code"));
        Assert.Equal("rate_limit_error", error.Str("type"));
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.ToString());
        var ollama = await other.PostAsync("/api/chat", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, ollama.StatusCode);
        Assert.Equal(JsonValueKind.String, (await ollama.ReadAsync()).GetProperty("error").ValueKind);
        Assert.NotNull(ollama.Headers.RetryAfter);
        Assert.Equal(2, f.UpstreamRequests().Count);

        // The clients leave: both leases are released at once (LeaseTtl is the default 10 minutes, so expiry cannot be
        // what frees them) and the tenant can send again.
        first.Dispose();
        second.Dispose();
        await Kit.WaitUntilAsync(async () => await Kit.LeasesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId) == 0, "the held leases were never released");
        f.Simulator.State.ResetSwitches();
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/v1/chat/completions", Kit.Chat())).StatusCode);
        await Kit.WaitUntilAsync(async () => await Kit.LeasesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId) == 0, "a completed request kept its lease");

        var events = await f.EventsAsync(5);
        Assert.Equal(2, events.Count(e => e["outcome"] == "concurrency_limited" && e["status"] == "429"));
    }

    [Fact]
    public async Task TokensPerMinutePerKeyAnswers429WithRetryAfterAndHeadersThatSayWhichLimitIsSpent()
    {
        // One request reserves ~910 tokens (input estimate + the 900 max_tokens injected) of a 1,000-token minute: the
        // next is refused until the bucket refills (1,000/60 tokens a second, ~49 s), far longer than the test runs.
        await using var f = await DataPlaneFixture.StartAsync(tier: Tier(tokensPerMinute: 1000, defaultMaxTokens: 900, maxMaxTokens: 1000));
        using var client = f.Client();
        var ok = await client.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("1000", Kit.Header(ok, "x-ratelimit-limit-tokens"));
        Assert.Equal("100000", Kit.Header(ok, "x-ratelimit-limit-requests"));
        var tokensLeft = long.Parse(Kit.Header(ok, "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture);
        Assert.InRange(tokensLeft, 0, 1000 - 900);
        // The request count is not confused with the token bucket (the tightest bucket overall is the token one).
        Assert.InRange(long.Parse(Kit.Header(ok, "x-ratelimit-remaining-requests"), CultureInfo.InvariantCulture), 99_990, 100_000);
        Assert.EndsWith("s", Kit.Header(ok, "x-ratelimit-reset-tokens"), StringComparison.Ordinal);

        var limited = await client.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        var error = (await limited.ReadAsync()).GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.Str("code"));
        Assert.Contains("Tokens-per-minute", error.Str("message"), StringComparison.Ordinal);
        // Retry-After: when the bucket will hold this request's cost again; it refills fully within the minute.
        var retryAfter = limited.Headers.RetryAfter?.Delta ?? TimeSpan.Zero;
        Assert.InRange(retryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        Assert.InRange(long.Parse(Kit.Header(limited, "x-ratelimit-remaining-tokens"), CultureInfo.InvariantCulture), 0, 1000 - 900 + 60);
        Assert.NotEqual("0", Kit.Header(limited, "x-ratelimit-remaining-requests"));
        var ollama = await client.PostAsync("/api/chat", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, ollama.StatusCode);
        Assert.NotNull(ollama.Headers.RetryAfter);

        // The limit is per key: a second key of the same tenant has its own minute.
        var (_, secondKey) = await f.Gateway.IssueKeyAsync(f.TenantId);
        using var second = f.Client(secondKey);
        Assert.Equal(HttpStatusCode.OK, (await second.PostAsync("/v1/chat/completions", Kit.Chat())).StatusCode);

        Assert.Equal(2, f.UpstreamRequests().Count);
        var events = await f.EventsAsync(4);
        Assert.Equal(2, events.Count(e => e["outcome"] == "rate_limited" && e["status"] == "429"));
    }

    [Fact]
    public async Task AGatewayKilledMidRequestDoesNotLeakItsConcurrencySlotTheLeaseExpiresAndAnotherReplicaServesAgain()
    {
        // Two replicas on one Redis and one database; the tenant may have one request in flight. TTL 5 s: the lease set
        // itself lives 2 x TTL after the last renewal, ample time to look at it right after the kill on a slow machine.
        await using var f = await DataPlaneFixture.StartAsync(settings: new Dictionary<string, string?> { ["DataPlane:LeaseTtl"] = "00:00:05" }, tier: Tier(concurrency: 1));
        await using var doomed = await GatewayProcess.StartAsync(f);
        f.Simulator.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 1 });

        using var held = Kit.StreamingClient(doomed.DataUrl, f.Key);
        using var inFlight = await Kit.StartStreamAsync(held);
        Assert.True(inFlight.StatusCode == HttpStatusCode.OK, $"{(int)inFlight.StatusCode} {inFlight.Content.Headers.ContentType}\n{doomed.Output}");
        using var survivor = f.Client();
        var refused = await survivor.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("concurrency_limit_exceeded", (await refused.ReadAsync()).GetProperty("error").Str("code"));

        // SIGKILL: no finally block runs, nothing is released.
        doomed.Kill();
        Assert.Equal(1, await Kit.LeasesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId));
        f.Simulator.State.ResetSwitches();

        // The dead replica stops renewing, its lease expires after the TTL and the survivor serves the tenant again.
        HttpStatusCode last = 0;
        await Kit.WaitUntilAsync(async () =>
        {
            using var response = await survivor.PostAsync("/v1/chat/completions", Kit.Chat());
            last = response.StatusCode;
            Assert.True(last is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, last.ToString());
            return last == HttpStatusCode.OK;
        }, "the killed gateway's lease never expired", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task AStreamRunningLongerThanTheLeaseTtlKeepsItsLeaseWhileItFlowsAndGivesItBackWhenItEnds()
    {
        // TTL 4 s, renewed every second: three seconds of margin for a renewal delayed by a loaded machine.
        var ttl = TimeSpan.FromSeconds(4);
        await using var f = await DataPlaneFixture.StartAsync(settings: new Dictionary<string, string?> { ["DataPlane:LeaseTtl"] = "00:00:04" }, tier: Tier(concurrency: 1));
        f.Simulator.State.UpdateSwitches(s => s with { StallMidStreamAfterTokens = 1 });
        using var held = Kit.StreamingClient(f.Gateway.DataUrl, f.Key);
        using var stream = await Kit.StartStreamAsync(held);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var firstExpiry = Assert.Single(await Kit.LeaseExpiriesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId));

        // Wait (by watching Redis, not a clock) until the lease has been renewed past one whole TTL after it was taken:
        // the stream is then older than the TTL and still holds its slot. Without renewal the expiry never moves.
        long expiry = firstExpiry;
        await Kit.WaitUntilAsync(async () =>
        {
            var expiries = await Kit.LeaseExpiriesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId);
            expiry = Assert.Single(expiries);
            return expiry >= firstExpiry + (long)ttl.TotalMilliseconds;
        }, "the lease of a long stream was never renewed");

        Assert.True(expiry > await Kit.RedisNowMsAsync(f.Redis), "the renewed lease had already expired");
        var (_, otherKey) = await f.Gateway.IssueKeyAsync(f.TenantId);
        using var other = f.Client(otherKey);
        var refused = await other.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("concurrency_limit_exceeded", (await refused.ReadAsync()).GetProperty("error").Str("code"));

        stream.Dispose();
        await Kit.WaitUntilAsync(async () => await Kit.LeasesAsync(f.Redis, f.Gateway.RedisPrefix, f.TenantId) == 0, "the stream's lease was not released when it ended");
        f.Simulator.State.ResetSwitches();
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/v1/chat/completions", Kit.Chat())).StatusCode);
    }
}

/// <summary>Shared helpers of the limit and record tests.</summary>
internal static class Kit
{
    public static StringContent Chat(string content = "hello", bool stream = false, string model = DataPlaneFixture.Model) =>
        new(JsonSerializer.Serialize(new { model, stream, messages = new[] { new { role = "user", content } } }), Encoding.UTF8, "application/json");

    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new Xunit.Sdk.XunitException($"missing header {name}");

    /// <summary>A client whose streams can stay open as long as the test needs.</summary>
    public static HttpClient StreamingClient(string baseUrl, string key)
    {
        var client = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Starts an OpenAI streaming chat and returns once the response headers arrived (the request holds its lease).</summary>
    public static async Task<HttpResponseMessage> StartStreamAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Chat(stream: true) };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
    }

    /// <summary>Concurrency leases in the tenant's set (expired ones included until an acquire prunes them).</summary>
    public static async Task<long> LeasesAsync(string redis, string prefix, string tenantId)
    {
        await using var connection = await RedisConnection.ConnectAsync(redis);
        return (await connection.ExecuteAsync("ZCARD", prefix + "inflight:tenant:" + tenantId)).AsInt64();
    }

    /// <summary>Expiry (Redis server ms) of every lease in the tenant's set.</summary>
    public static async Task<List<long>> LeaseExpiriesAsync(string redis, string prefix, string tenantId)
    {
        await using var connection = await RedisConnection.ConnectAsync(redis);
        var reply = await connection.ExecuteAsync("ZRANGE", prefix + "inflight:tenant:" + tenantId, 0, -1, "WITHSCORES");
        var expiries = new List<long>();
        for (var i = 1; i < reply.Length; i += 2)
        {
            expiries.Add((long)double.Parse(reply[i].AsString()!, CultureInfo.InvariantCulture));
        }

        return expiries;
    }

    public static async Task<long> RedisNowMsAsync(string redis)
    {
        await using var connection = await RedisConnection.ConnectAsync(redis);
        var time = await connection.ExecuteAsync("TIME");
        return (long.Parse(time[0].AsString()!, CultureInfo.InvariantCulture) * 1000) + (long.Parse(time[1].AsString()!, CultureInfo.InvariantCulture) / 1000);
    }

    /// <summary>Polls <paramref name="condition"/> until true; fails with <paramref name="because"/> after the deadline (default 30 s).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string because, TimeSpan? deadline = null, TimeSpan? interval = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                Assert.Fail(because);
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(100));
        }
    }

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var db = new NpgsqlConnection(connectionString);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, db);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Approves every model the simulator lists, pinned to its digest.</summary>
    public static async Task ApproveSimulatorModelsAsync(GatewayHost gateway, SimulatorHost simulator)
    {
        using var admin = gateway.Admin();
        using var upstream = new HttpClient { BaseAddress = simulator.BaseAddress };
        var tags = await upstream.GetFromJsonAsync<JsonElement>("/api/tags");
        foreach (var model in tags.GetProperty("models").EnumerateArray())
        {
            var digest = model.GetProperty("digest").GetString()!.Replace("sha256:", "", StringComparison.Ordinal);
            (await admin.PutAsJsonAsync($"/admin/models/{model.GetProperty("name").GetString()}", new { digest = "sha256:" + digest })).EnsureSuccessStatusCode();
        }
    }
}

/// <summary>
/// A second gateway replica in its own OS process (the built LlmSecOps.Gateway.dll next to the tests) sharing the
/// fixture's database, Redis, key prefix and pepper, so it can be SIGKILLed mid-request like a crashed pod.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private GatewayProcess(Process process, string dataUrl)
    {
        _process = process;
        DataUrl = dataUrl;
    }

    public string DataUrl { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<GatewayProcess> StartAsync(DataPlaneFixture f)
    {
        var dataPort = FreePort.Get();
        var adminPort = FreePort.Get();
        var settings = GatewayHost.BaseSettings(f.Gateway.DatabaseConnectionString, f.Redis, f.Gateway.RedisPrefix, f.Gateway.BootstrapToken, f.Gateway.Pepper,
            Path.Combine(Path.GetTempPath(), "llmsecops-audit-" + Guid.NewGuid().ToString("N") + ".jsonl"));
        settings["Listeners:Data:Port"] = dataPort.ToString(CultureInfo.InvariantCulture);
        settings["Listeners:Admin:Port"] = adminPort.ToString(CultureInfo.InvariantCulture);
        settings["Logging:LogLevel:Default"] = "Information";
        foreach (var key in new[] { "ConnectionStrings:ollama", "DataPlane:LeaseTtl", "DataPlane:PolicyCacheTtl" })
        {
            settings[key] = f.Gateway.App.Configuration[key];
        }

        settings["DataPlane:JournalDirectory"] = Path.Combine(Path.GetTempPath(), "llmsecops-journal-" + Guid.NewGuid().ToString("N"));
        // The gateway's assemblies are next to the tests'; the tests' deps.json (what this test host runs with) names all
        // of them, so the child resolves exactly the assemblies the in-process gateway uses.
        var dll = Path.Combine(AppContext.BaseDirectory, "LlmSecOps.Gateway.dll");
        var deps = Path.Combine(AppContext.BaseDirectory, "LlmSecOps.Gateway.Tests.deps.json");
        var dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            ArgumentList = { "exec", "--depsfile", deps, dll },
            WorkingDirectory = Directory.CreateTempSubdirectory("llmsecops-gw-").FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the gateway process");
        var gateway = new GatewayProcess(process, $"http://127.0.0.1:{dataPort}/");
        process.OutputDataReceived += (_, e) => gateway.Append(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Kit.WaitUntilAsync(async () =>
        {
            Assert.False(process.HasExited, "the gateway process exited: " + gateway.Output);
            try
            {
                using var live = await probe.GetAsync($"http://127.0.0.1:{adminPort}/health/live");
                return live.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }, "the gateway process did not start", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(200));
        return gateway;
    }

    /// <summary>SIGKILL (no shutdown, no finally blocks) and wait for the exit.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(30_000);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}

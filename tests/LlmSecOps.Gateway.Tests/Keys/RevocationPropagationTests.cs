using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Redis;
using LlmSecOps.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace LlmSecOps.Gateway.Tests.Keys;

/// <summary>Timing figures are printed: run alone, not beside the other test classes on a 2-core machine.</summary>
[CollectionDefinition(nameof(RevocationPropagationTests), DisableParallelization = true)]
public sealed class RevocationTimingCollection
{
}

[Collection(nameof(RevocationPropagationTests))]
public sealed class RevocationPropagationTests(ITestOutputHelper output)
{
    /// <summary>A 60 s key cache and no periodic resync: only the publish on llmsecops:revocations can make a replica refuse in time.</summary>
    private static Dictionary<string, string?> SlowCache() => new()
    {
        ["Keys:CacheTtl"] = "00:01:00",
        ["Keys:ResyncInterval"] = "00:00:00",
    };

    [Fact]
    public async Task RevokedKeyIsRejectedByEveryReplicaWithinOneSecond()
    {
        const int Revocations = 120;
        var database = await TestServers.NewDatabaseAsync();
        var prefix = TestServers.NewKeyPrefix();
        var pepper = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var token = "boot_" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        await using var a = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redisPrefix: prefix);
        var tenant = await a.CreateTenantAsync();
        using var adminA = a.Admin();
        using var dataA = a.Data();
        using var dataB = b.Data();

        var onA = new List<double>(Revocations);
        var onB = new List<double>(Revocations);
        var responded = new List<double>(Revocations);
        for (var i = 0; i < Revocations; i++)
        {
            var (id, key) = await a.IssueKeyAsync(tenant);
            // Both replicas have verified (and cached, for 60 s) the key.
            Assert.Equal(HttpStatusCode.OK, (await GetModelsAsync(dataA, key)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await GetModelsAsync(dataB, key)).StatusCode);

            var clock = Stopwatch.StartNew();
            var revoke = adminA.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "propagation test" });
            var waitA = UntilRefusedAsync(dataA, key, clock);
            var waitB = UntilRefusedAsync(dataB, key, clock);
            Assert.Equal(HttpStatusCode.OK, (await revoke).StatusCode);
            responded.Add(clock.Elapsed.TotalMilliseconds);
            onA.Add(await waitA);
            onB.Add(await waitB);
        }

        var everywhere = onA.Zip(onB, Math.Max).ToList();
        output.WriteLine($"Revocation to refusal over {Revocations} revocations, 2 replicas, key cache TTL 60 s (times from the start of the revoke request):");
        output.WriteLine($"  replica A (revoked through it): p50 {Percentile(onA, 50):F1} ms, p99 {Percentile(onA, 99):F1} ms, max {onA.Max():F1} ms");
        output.WriteLine($"  replica B (other replica):      p50 {Percentile(onB, 50):F1} ms, p99 {Percentile(onB, 99):F1} ms, max {onB.Max():F1} ms");
        output.WriteLine($"  revoke request answered:        p50 {Percentile(responded, 50):F1} ms, p99 {Percentile(responded, 99):F1} ms, max {responded.Max():F1} ms");
        output.WriteLine($"  every replica:                  p50 {Percentile(everywhere, 50):F1} ms, p99 {Percentile(everywhere, 99):F1} ms, max {everywhere.Max():F1} ms");
        Console.WriteLine($"[revocation-propagation] n={Revocations} p50={Percentile(everywhere, 50):F1}ms p99={Percentile(everywhere, 99):F1}ms max={everywhere.Max():F1}ms");
        Assert.True(Percentile(everywhere, 99) < 1000, $"p99 {Percentile(everywhere, 99):F1} ms is not under 1 s");
    }

    [Fact]
    public async Task ReplicaCutOffFromRedisWhileAKeyIsRevokedRefusesItAfterReconnecting()
    {
        var redis = await TestServers.RedisAsync();
        var endpoint = redis.Split(',')[0];
        var port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        await using var proxy = new TcpProxy(new IPEndPoint(IPAddress.Loopback, port));
        var viaProxy = $"127.0.0.1:{proxy.Port}" + redis[endpoint.Length..];

        var database = await TestServers.NewDatabaseAsync();
        var prefix = TestServers.NewKeyPrefix();
        var pepper = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var token = "boot_" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        await using var a = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redis: viaProxy, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redis: redis, redisPrefix: prefix);
        var tenant = await b.CreateTenantAsync();
        var (id, key) = await b.IssueKeyAsync(tenant);
        using var dataA = a.Data(key);
        using var dataB = b.Data(key);
        Assert.Equal(HttpStatusCode.OK, (await dataA.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await dataB.GetAsync("/v1/models")).StatusCode);

        var redisOfA = await a.App.Services.GetRequiredService<RedisKeyStatusBus>().ConnectionAsync();
        proxy.Cut();
        await WaitUntilAsync(() => redisOfA.State != RedisConnectionState.Connected, TimeSpan.FromSeconds(20));

        using (var adminB = b.Admin())
        {
            Assert.Equal(HttpStatusCode.OK, (await adminB.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "while A is cut off" })).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await dataB.GetAsync("/v1/models")).StatusCode);
        // A missed the publish: its 60 s cache still says the key is fine (this is what the resync must repair).
        await Task.Delay(300);
        Assert.Equal(HttpStatusCode.OK, (await dataA.GetAsync("/v1/models")).StatusCode);

        proxy.Resume();
        var clock = Stopwatch.StartNew();
        await WaitUntilAsync(async () => (await dataA.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(30));
        output.WriteLine($"Replica A refused the key {clock.ElapsedMilliseconds} ms after Redis became reachable again.");
        Assert.Contains(a.Logs.Lines, l => l.Contains("[1401]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SuspendingATenantThroughOneReplicaIsEnforcedByTheOtherAtOnce()
    {
        var database = await TestServers.NewDatabaseAsync();
        var prefix = TestServers.NewKeyPrefix();
        var pepper = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var token = "boot_" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        await using var a = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(database, SlowCache(), pepper, token, redisPrefix: prefix);
        var tenant = await a.CreateTenantAsync();
        var (_, key) = await a.IssueKeyAsync(tenant);
        using var dataB = b.Data();
        Assert.Equal(HttpStatusCode.OK, (await GetModelsAsync(dataB, key)).StatusCode);

        using var adminA = a.Admin();
        var clock = Stopwatch.StartNew();
        Assert.Equal(HttpStatusCode.OK, (await adminA.PostAsync($"/admin/tenants/{tenant}/suspend", null)).StatusCode);
        while ((await GetModelsAsync(dataB, key)).StatusCode != HttpStatusCode.Forbidden)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "replica B still serves a suspended tenant");
            await Task.Delay(5);
        }

        output.WriteLine($"Replica B refused the suspended tenant's key {clock.ElapsedMilliseconds} ms after the suspend request started.");
    }

    private static Task<HttpResponseMessage> GetModelsAsync(HttpClient client, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client.SendAsync(request);
    }

    private static async Task<double> UntilRefusedAsync(HttpClient client, string key, Stopwatch clock)
    {
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            using var response = await GetModelsAsync(client, key);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                return clock.Elapsed.TotalMilliseconds;
            }

            await Task.Delay(1);
        }

        return clock.Elapsed.TotalMilliseconds;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout) =>
        await WaitUntilAsync(() => Task.FromResult(condition()), timeout);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < timeout, $"condition not met within {timeout}");
            await Task.Delay(50);
        }
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }
}

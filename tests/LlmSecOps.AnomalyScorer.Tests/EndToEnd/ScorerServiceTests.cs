using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using LlmSecOps.AnomalyScorer.Events;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Redis;
using LlmSecOps.Testing;

namespace LlmSecOps.AnomalyScorer.Tests.EndToEnd;

/// <summary>
/// The scorer service's consumer group on real Redis (entries written to the stream as ARCHITECTURE.md specifies) and
/// its start-up checks. The full path through the gateway is <see cref="GatewayEndToEndTests"/>.
/// </summary>
public sealed class ScorerServiceTests
{
    private static readonly long Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task EntriesACrashedConsumerLeftPendingAreReclaimedScoredAndAcknowledged()
    {
        var prefix = TestServers.NewKeyPrefix();
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        var stream = prefix + RequestEvent.StreamName;
        await redis.XGroupCreateAsync(stream, "anomaly-scorer", "0", createStream: true);
        for (var i = 0; i < 25; i++)
        {
            await AddAsync(redis, stream, Now + i, "k-crash", "t-crash", "DE", "203.0.113.10", 512, "stop");
        }

        // a replica reads them and dies before acknowledging
        var taken = await redis.XReadGroupAsync("anomaly-scorer", "crashed-replica", stream, 100);
        Assert.Equal(25, taken.Count);
        Assert.Equal(25, await redis.XPendingCountAsync(stream, "anomaly-scorer"));

        await using var scorer = await StartScorerAsync(prefix, null, null, observeOnly: true);
        Assert.True(await WaitForAsync(async () => await redis.XPendingCountAsync(stream, "anomaly-scorer") == 0, TimeSpan.FromSeconds(30)),
            "pending entries were not reclaimed");
        var consumer = scorer.Services.GetRequiredService<EventConsumer>();
        Assert.Equal(25, consumer.Consumed);
    }

    [Fact]
    public async Task TheServiceRefusesToStartWithoutAControlPlaneWhenItMayAct()
    {
        var app = AnomalyScorerApp.Build([], b => b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Events:Enabled"] = "false",
            ["Snapshots:Enabled"] = "false",
            ["Listeners:Management:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
        }));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => app.StartAsync());
        Assert.Contains("ControlPlane:BaseUrl", error.Message, StringComparison.Ordinal);
        Assert.Contains("ControlPlane:Token", error.Message, StringComparison.Ordinal);
        await app.DisposeAsync();
    }

    private static async Task<WebApplication> StartScorerAsync(string prefix, string? adminUrl, string? token, bool observeOnly = false)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = await TestServers.RedisAsync(),
            ["ConnectionStrings:llmsecops"] = await TestServers.NewDatabaseAsync(),
            ["Redis:KeyPrefix"] = prefix,
            ["ControlPlane:BaseUrl"] = adminUrl,
            ["ControlPlane:Token"] = token,
            ["Listeners:Management:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Events:BlockMilliseconds"] = "200",
            ["Events:ClaimIdleSeconds"] = "1",
            ["Events:ClaimIntervalSeconds"] = "1",
        };
        if (observeOnly)
        {
            settings["Scoring:DefaultPolicy"] = "Observe";
        }

        var app = AnomalyScorerApp.Build([], b => b.Configuration.AddInMemoryCollection(settings));
        await app.StartAsync();
        return app;
    }

    private static Task AddAsync(
        RedisConnection redis, string stream, long ts, string keyId, string tenant, string country, string ip, int maxTokens, string finish, string claimedKeyId = "") =>
        redis.XAddAsync(stream,
        [
            (RequestEvent.Fields.Ts, ts.ToString(CultureInfo.InvariantCulture)),
            (RequestEvent.Fields.RequestId, Guid.NewGuid().ToString("N")),
            (RequestEvent.Fields.KeyId, keyId),
            (RequestEvent.Fields.ClaimedKeyId, claimedKeyId),
            (RequestEvent.Fields.TenantId, tenant),
            (RequestEvent.Fields.ClientIp, ip),
            (RequestEvent.Fields.Country, country),
            (RequestEvent.Fields.Endpoint, "POST /v1/chat/completions"),
            (RequestEvent.Fields.Model, "llama3.1:8b"),
            (RequestEvent.Fields.Status, keyId.Length > 0 ? "200" : "401"),
            (RequestEvent.Fields.Outcome, keyId.Length > 0 ? "ok" : "unauthenticated"),
            (RequestEvent.Fields.PromptTokens, "300"),
            (RequestEvent.Fields.CompletionTokens, "200"),
            (RequestEvent.Fields.MaxTokensRequested, maxTokens.ToString(CultureInfo.InvariantCulture)),
            (RequestEvent.Fields.MaxTokensEffective, Math.Min(maxTokens, 4096).ToString(CultureInfo.InvariantCulture)),
            (RequestEvent.Fields.FinishReason, finish),
        ]);

    private static async Task<bool> WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}

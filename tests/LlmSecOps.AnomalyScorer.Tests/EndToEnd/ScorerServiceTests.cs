using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using LlmSecOps.AnomalyScorer.Events;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Redis;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;

namespace LlmSecOps.AnomalyScorer.Tests.EndToEnd;

/// <summary>
/// The scorer service on real Redis and the real gateway control plane. The gateway does not yet write request
/// events (its inference routes are not built), so these tests write them to the stream exactly as ARCHITECTURE.md
/// specifies; everything after the stream is real: consumer group, scorer, control-plane revoke, key authentication.
/// </summary>
public sealed class ScorerServiceTests
{
    private static readonly long Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task InjectedBurstFromANewCountryRevokesTheKeyAndItsNextCallGets401WithTheReasonInTheIncident()
    {
        await using var gateway = await GatewayHost.StartAsync();
        var serviceToken = (await gateway.PostAsync("/admin/tokens", new { role = "service", name = "anomaly-scorer" })).GetProperty("token").GetString()!;
        var tenant = (await gateway.PostAsync("/admin/tenants", new { name = "scorer-e2e" })).GetProperty("id").GetString()!;
        var issued = await gateway.PostAsync($"/admin/tenants/{tenant}/keys", new { name = "victim" });
        var keyId = issued.GetProperty("id").GetString()!;
        var key = issued.GetProperty("key").GetString()!;

        using var data = new HttpClient { BaseAddress = new Uri(gateway.DataUrl) };
        data.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);

        var prefix = TestServers.NewKeyPrefix();
        await using var scorer = await StartScorerAsync(prefix, gateway.AdminUrl, serviceToken);
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        var stream = prefix + RequestEvent.StreamName;

        // ten days of office-hours use from Germany, then a burst from Vietnam at the cap
        var random = new Random(7);
        var start = Now - (10 * 86_400_000L) - 3_600_000;
        for (var d = 0; d < 10; d++)
        {
            for (var h = 8; h < 18; h++)
            {
                for (var c = random.Next(0, 4); c > 0; c--)
                {
                    await AddAsync(redis, stream, start + (d * 86_400_000L) + (h * 3_600_000L) + (random.Next(55) * 60_000L), keyId, tenant, "DE", "203.0.113.10", 512, "stop");
                }
            }
        }

        for (var i = 0; i < 200; i++)
        {
            await AddAsync(redis, stream, Now + (i * 600), keyId, tenant, "VN", "198.51.100." + (i % 3), 100_000, "length");
        }

        // forged traffic for the same id without authentication must change nothing by itself (and does not here)
        await AddAsync(redis, stream, Now, "", tenant, "RU", "192.0.2.1", 100_000, "length", claimedKeyId: keyId);

        var revoked = await WaitForAsync(async () =>
            (await gateway.GetAsync($"/admin/keys/{keyId}")).GetProperty("status").GetString() == "revoked", TimeSpan.FromSeconds(60));
        Assert.True(revoked, "the key was not revoked");

        // Postgres says "revoked" as soon as the revoke commits, a moment before the control plane has dropped the key
        // from the gateway's cache and announced it: revocation reaches the data plane within a second by contract,
        // not synchronously with the row, so wait for the refusal (without it the key would stay cached for the 10 s default TTL).
        Assert.True(await WaitForAsync(async () => (await data.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5)),
            "the revoked key was still accepted 5 s after the control plane recorded the revocation");

        var incidents = await gateway.GetAsync($"/admin/incidents?keyId={keyId}");
        var items = incidents.ValueKind == JsonValueKind.Array ? incidents : incidents.GetProperty("items");
        // the revocation's incident carries the reasons and the evidence (a flag may have been opened just before it)
        var incident = Assert.Single(items.EnumerateArray(), i => i.GetProperty("source").GetString() == "anomaly"
            && i.GetProperty("summary").GetString()!.Contains("revoked", StringComparison.Ordinal));
        Assert.Contains("first used this week", incident.GetRawText(), StringComparison.Ordinal);

        // every entry was acknowledged
        Assert.True(await WaitForAsync(async () => await redis.XPendingCountAsync(stream, "anomaly-scorer") == 0, TimeSpan.FromSeconds(10)));

        // the management API shows the key and the decision
        using var management = new HttpClient { BaseAddress = new Uri(scorer.Services.GetRequiredService<ListenerRegistry>().Get("Management").BaseUrl) };
        var view = await management.GetFromJsonAsync<JsonElement>($"/scorer/keys/{keyId}");
        Assert.True(view.GetProperty("revokeDecided").GetBoolean());
        var decisions = await management.GetFromJsonAsync<JsonElement>("/scorer/decisions");
        Assert.Contains(decisions.EnumerateArray(), d => d.GetProperty("keyId").GetString() == keyId && d.GetProperty("action").GetString() == "Revoke");
        var claimed = await management.GetFromJsonAsync<JsonElement>("/scorer/claimed");
        Assert.Contains(claimed.EnumerateArray(), c => c.GetProperty("claimedKeyId").GetString() == keyId);
        Assert.Equal(HttpStatusCode.BadRequest, (await management.GetAsync("/scorer/keys/bad%20id")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await management.GetAsync("/scorer/keys/unknown")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await management.GetAsync("/health/live")).StatusCode);
    }

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

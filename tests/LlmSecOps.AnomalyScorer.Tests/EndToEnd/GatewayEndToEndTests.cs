using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Redis;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Simulator;
using LlmSecOps.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.AnomalyScorer.Tests.EndToEnd;

/// <summary>
/// Everything real: the simulator as the upstream, the gateway's data plane (which writes the request events), Redis,
/// Postgres, the scorer's own app with its consumer group, and the gateway's control plane revoking. The only thing the
/// test controls is time: one stepped clock shared by the gateway and the scorer replays a week in seconds.
/// </summary>
public sealed class GatewayEndToEndTests
{
    private const string Model = "llama3.2:1b";

    [Fact]
    public async Task ABurstThroughTheGatewayFromANewCountryRevokesTheKeyAndTheNextCallGets401WithTheReasonInTheIncident()
    {
        // seven days of office hours in Germany, starting at midnight UTC a week ago
        var start = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-8);
        var clock = new SteppedClock(start);
        await using var simulator = await SimulatorHost.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(simulator.BaseAddress, clock);
        await ApproveUpstreamModelsAsync(gateway, simulator);
        var tier = "scorer" + Guid.NewGuid().ToString("N")[..8];
        await gateway.PutAsync($"/admin/tiers/{tier}", new
        {
            allowedModels = new[] { Model }, defaultMaxTokens = 256, maxMaxTokens = 1024, maxTokensOverCap = "clamp",
            requestsPerMinute = 100_000, tokensPerMinute = 100_000_000, concurrency = 64,
        });
        var serviceToken = (await gateway.PostAsync("/admin/tokens", new { role = "service", name = "anomaly-scorer" })).GetProperty("token").GetString()!;
        var tenant = (await gateway.PostAsync("/admin/tenants", new { name = "scorer-e2e", tier })).GetProperty("id").GetString()!;
        var issued = await gateway.PostAsync($"/admin/tenants/{tenant}/keys", new { name = "victim" });
        var keyId = issued.GetProperty("id").GetString()!;
        var key = issued.GetProperty("key").GetString()!;

        await using var scorer = await StartScorerAsync(gateway, serviceToken, clock);
        using var data = new HttpClient { BaseAddress = new Uri(gateway.DataUrl) };

        var random = new Random(3);
        var baseline = 0;
        for (var d = 0; d < 7; d++)
        {
            for (var h = 8; h < 18; h++)
            {
                for (var c = random.Next(1, 3); c > 0; c--)
                {
                    clock.Set(start.AddDays(d).AddHours(h).AddMinutes(random.Next(0, 55)).AddSeconds(c * 5));
                    using var response = await ChatAsync(data, key, "DE", "203.0.113.10", maxTokens: 200);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    baseline++;
                }
            }
        }

        // the leaked key, hammered from Vietnam at the cap (the gateway clamps 100,000 to the tier's 1,024), 100 calls a
        // minute of event time, until the gateway refuses the key: on a slow machine the events reach the scorer later
        // (wall clock), so the burst simply lasts longer; a generous deadline instead of a fixed number of calls
        var burstStart = start.AddDays(7).AddHours(10);
        var served = 0;
        var refused = false;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        for (var i = 0; !refused && DateTime.UtcNow < deadline; i++)
        {
            clock.Set(burstStart.AddMilliseconds(i * 600));
            using var response = await ChatAsync(data, key, "VN", "198.51.100." + (1 + (i % 3)), maxTokens: 100_000);
            refused = response.StatusCode == HttpStatusCode.Unauthorized;
            if (!refused)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                served++;
            }
        }

        Assert.True(refused, $"the gateway still served the key after {baseline} baseline calls and {served} burst calls");
        var revoked = await WaitForAsync(async () =>
            (await gateway.GetAsync($"/admin/keys/{keyId}")).GetProperty("status").GetString() == "revoked", TimeSpan.FromSeconds(30));
        Assert.True(revoked, "the key answers 401 but is not revoked");

        using (var next = await ChatAsync(data, key, "VN", "198.51.100.1", maxTokens: 100_000))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, next.StatusCode);
        }

        // the revocation's incident carries the reasons (a flag may have been opened just before it)
        var incidents = await gateway.GetAsync($"/admin/incidents?keyId={keyId}");
        var items = incidents.ValueKind == JsonValueKind.Array ? incidents : incidents.GetProperty("items");
        var incident = Assert.Single(items.EnumerateArray(), i => i.GetProperty("source").GetString() == "anomaly"
            && i.GetProperty("summary").GetString()!.Contains("revoked", StringComparison.Ordinal));
        Assert.Contains("first used this week", incident.GetRawText(), StringComparison.Ordinal);

        // the events the scorer acted on were the gateway's own: stamped by its clock, with the country it resolved
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        var stream = gateway.RedisPrefix + RequestEvent.StreamName;
        var entries = (await redis.ExecuteAsync("XRANGE", stream, "-", "+")).AsArray()!;
        var fromVietnam = entries.Count(e => Field(e, RequestEvent.Fields.KeyId) == keyId && Field(e, RequestEvent.Fields.Country) == "VN");
        Assert.InRange(fromVietnam, 1, served);
        // the refused calls' events leave the gateway through its batch writer, a moment after the 401s: wait for one
        Assert.True(await WaitForAsync(async () => (await redis.ExecuteAsync("XRANGE", stream, "-", "+")).AsArray()!
            .Any(e => Field(e, RequestEvent.Fields.ClaimedKeyId) == keyId && Field(e, RequestEvent.Fields.Outcome) == "unauthenticated"), TimeSpan.FromSeconds(30)),
            "no event of a refused call carries the key's id as claimed_key_id");
        Assert.True(await WaitForAsync(async () => await redis.XPendingCountAsync(stream, "anomaly-scorer") == 0, TimeSpan.FromSeconds(30)),
            "the scorer left entries unacknowledged");

        // the management API shows the key, the decision and the failed authentications by claimed id
        using var management = new HttpClient { BaseAddress = new Uri(scorer.Services.GetRequiredService<ListenerRegistry>().Get("Management").BaseUrl) };
        var view = await management.GetFromJsonAsync<JsonElement>($"/scorer/keys/{keyId}");
        Assert.True(view.GetProperty("revokeDecided").GetBoolean());
        var decisions = await management.GetFromJsonAsync<JsonElement>("/scorer/decisions");
        Assert.Contains(decisions.EnumerateArray(), d => d.GetProperty("keyId").GetString() == keyId && d.GetProperty("action").GetString() == "Revoke");
        Assert.True(await WaitForAsync(async () => (await management.GetFromJsonAsync<JsonElement>("/scorer/claimed")).EnumerateArray()
            .Any(c => c.GetProperty("claimedKeyId").GetString() == keyId), TimeSpan.FromSeconds(30)));
        // one key cannot teach population priors: the revocation rested on the key's own week of history
        var status = await management.GetFromJsonAsync<JsonElement>("/scorer/status");
        Assert.False(status.GetProperty("populationWarm").GetBoolean());
        Assert.True(status.GetProperty("scoredEvents").GetInt64() >= baseline);
        Assert.Equal(HttpStatusCode.BadRequest, (await management.GetAsync("/scorer/keys/bad%20id")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await management.GetAsync("/scorer/keys/unknown")).StatusCode);
    }

    private static async Task<HttpResponseMessage> ChatAsync(HttpClient data, string key, string country, string ip, int maxTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(
                $$"""{"model":"{{Model}}","max_tokens":{{maxTokens.ToString(CultureInfo.InvariantCulture)}},"messages":[{"role":"user","content":"hello"}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        request.Headers.Add("X-Forwarded-For", ip);
        request.Headers.Add("CF-IPCountry", country);
        return await data.SendAsync(request);
    }

    private static async Task ApproveUpstreamModelsAsync(GatewayHost gateway, SimulatorHost simulator)
    {
        using var upstream = new HttpClient { BaseAddress = simulator.BaseAddress };
        var tags = await upstream.GetFromJsonAsync<JsonElement>("/api/tags");
        foreach (var model in tags.GetProperty("models").EnumerateArray())
        {
            await gateway.PutAsync($"/admin/models/{model.GetProperty("name").GetString()}", new { digest = model.GetProperty("digest").GetString()!.StartsWith("sha256:", StringComparison.Ordinal)
                ? model.GetProperty("digest").GetString() : "sha256:" + model.GetProperty("digest").GetString() });
        }
    }

    private static async Task<WebApplication> StartScorerAsync(GatewayHost gateway, string token, TimeProvider clock)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:redis"] = await TestServers.RedisAsync(),
            ["ConnectionStrings:llmsecops"] = await TestServers.NewDatabaseAsync(),
            ["Redis:KeyPrefix"] = gateway.RedisPrefix,
            ["ControlPlane:BaseUrl"] = gateway.AdminUrl,
            ["ControlPlane:Token"] = token,
            ["Listeners:Management:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Events:BlockMilliseconds"] = "200",
        };
        var app = AnomalyScorerApp.Build([], b =>
        {
            b.Configuration.AddInMemoryCollection(settings);
            b.Services.AddSingleton(clock);
        });
        await app.StartAsync();
        return app;
    }

    private static string? Field(RedisValue entry, string name)
    {
        var fields = entry[1];
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            if (fields[i].AsString() == name)
            {
                return fields[i + 1].AsString();
            }
        }

        return null;
    }

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

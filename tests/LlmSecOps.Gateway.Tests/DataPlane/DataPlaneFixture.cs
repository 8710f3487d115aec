using System.Net.Http.Json;
using System.Text.Json;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Redis;
using LlmSecOps.Simulator;
using LlmSecOps.Testing;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>A gateway in front of a simulator, with a tenant, an approved model and a key; each test makes its own.</summary>
internal sealed class DataPlaneFixture : IAsyncDisposable
{
    public const string Model = "llama3.2:1b";

    private DataPlaneFixture(SimulatorHost simulator, GatewayHost gateway, string redis)
    {
        Simulator = simulator;
        Gateway = gateway;
        Redis = redis;
    }

    public SimulatorHost Simulator { get; }

    public GatewayHost Gateway { get; }

    public string Redis { get; }

    public string TenantId { get; private set; } = "";

    public string KeyId { get; private set; } = "";

    public string Key { get; private set; } = "";

    public static async Task<DataPlaneFixture> StartAsync(IDictionary<string, string?>? settings = null, object? tier = null, object? keyBody = null)
    {
        var simulator = await SimulatorHost.StartAsync();
        var redis = await TestServers.RedisAsync();
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:ollama"] = "Endpoint=" + simulator.BaseAddress.ToString().TrimEnd('/'),
            ["DataPlane:JournalDirectory"] = Path.Combine(Path.GetTempPath(), "llmsecops-journal-" + Guid.NewGuid().ToString("N")),
            ["DataPlane:PolicyCacheTtl"] = "00:00:00",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        // A small pool: the harness Postgres is shared by every test running in parallel (the 1,000-request test
        // would otherwise take 100 connections and starve the others).
        var database = await TestServers.NewDatabaseAsync() + ";Maximum Pool Size=12";
        var gateway = await GatewayHost.StartAsync(database: database, settings: all, redis: redis);
        var fixture = new DataPlaneFixture(simulator, gateway, redis);
        using var admin = gateway.Admin();
        using var upstream = new HttpClient { BaseAddress = simulator.BaseAddress };
        var tags = await upstream.GetFromJsonAsync<JsonElement>("/api/tags");
        foreach (var model in tags.GetProperty("models").EnumerateArray())
        {
            var digest = model.GetProperty("digest").GetString()!.Replace("sha256:", "", StringComparison.Ordinal);
            (await admin.PutAsJsonAsync($"/admin/models/{model.GetProperty("name").GetString()}", new { digest = "sha256:" + digest })).EnsureSuccessStatusCode();
        }
        string? tierName = null;
        if (tier is not null)
        {
            tierName = "t" + Guid.NewGuid().ToString("N")[..8];
            (await admin.PutAsJsonAsync($"/admin/tiers/{tierName}", tier)).EnsureSuccessStatusCode();
        }

        fixture.TenantId = await gateway.CreateTenantAsync("acme", tierName);
        (fixture.KeyId, fixture.Key) = await gateway.IssueKeyAsync(fixture.TenantId, keyBody);
        simulator.State.Requests.Clear();
        return fixture;
    }

    public HttpClient Client(string? key = null) => Gateway.Data(key ?? Key);

    /// <summary>Requests the simulator received since set-up, less the gateway's own digest look-ups (<c>GET /api/tags</c>).</summary>
    public IReadOnlyList<LlmSecOps.Simulator.State.RecordedRequest> UpstreamRequests() =>
        [.. Simulator.State.Requests.Snapshot().Where(r => !(r.Method == "GET" && r.Path == "/api/tags"))];

    /// <summary>Every request the simulator received since set-up.</summary>
    public IReadOnlyList<LlmSecOps.Simulator.State.RecordedRequest> AllUpstreamRequests() => Simulator.State.Requests.Snapshot();

    /// <summary>Every event on this gateway's stream, waiting until at least <paramref name="atLeast"/> are there.</summary>
    public async Task<List<Dictionary<string, string>>> EventsAsync(int atLeast)
    {
        await using var redis = await RedisConnection.ConnectAsync(Redis);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var reply = await redis.ExecuteAsync("XRANGE", Gateway.RedisPrefix + RequestEvent.StreamName, "-", "+");
            var events = new List<Dictionary<string, string>>();
            foreach (var entry in reply.AsArray() ?? [])
            {
                var fields = entry[1];
                var map = new Dictionary<string, string>();
                for (var i = 0; i + 1 < fields.Length; i += 2)
                {
                    map[fields[i].AsString()!] = fields[i + 1].AsString()!;
                }

                events.Add(map);
            }

            if (events.Count >= atLeast || DateTime.UtcNow > deadline)
            {
                return events;
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Simulator.DisposeAsync();
    }
}

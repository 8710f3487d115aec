using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using LlmSecOps.Gateway;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;

namespace LlmSecOps.AnomalyScorer.Tests.EndToEnd;

/// <summary>The real gateway (control plane and the data-plane routes it has) in-process, on the harness's servers.</summary>
internal sealed class GatewayHost : IAsyncDisposable
{
    private readonly string _checkpoint;

    private GatewayHost(WebApplication app, string bootstrap, string checkpoint, string redisPrefix)
    {
        RedisPrefix = redisPrefix;
        App = app;
        _checkpoint = checkpoint;
        Bootstrap = bootstrap;
        var listeners = app.Services.GetRequiredService<ListenerRegistry>();
        AdminUrl = listeners.Get("Admin").BaseUrl;
        DataUrl = listeners.Get("Data").BaseUrl;
    }

    public WebApplication App { get; }

    public string Bootstrap { get; }

    public string AdminUrl { get; }

    public string DataUrl { get; }

    /// <summary>The Redis key prefix of this gateway's stream and channels.</summary>
    public string RedisPrefix { get; }

    /// <summary>
    /// Starts the gateway; with <paramref name="upstream"/> its data plane forwards to that simulator, with
    /// <paramref name="clock"/> it stamps events (and everything else) with that time, and loopback is a trusted proxy
    /// (X-Forwarded-For and CF-IPCountry say who the client is).
    /// </summary>
    public static async Task<GatewayHost> StartAsync(Uri? upstream = null, TimeProvider? clock = null)
    {
        var bootstrap = "boot_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        var redisPrefix = TestServers.NewKeyPrefix();
        var checkpoint = Path.Combine(Path.GetTempPath(), "scorer-audit-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:llmsecops"] = await TestServers.NewDatabaseAsync(),
            ["ConnectionStrings:redis"] = await TestServers.RedisAsync(),
            ["Redis:KeyPrefix"] = redisPrefix,
            ["ControlPlane:BootstrapAdminToken"] = bootstrap,
            ["Keys:Pepper"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Listeners:Data:Address"] = "127.0.0.1",
            ["Listeners:Data:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Listeners:Admin:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Audit:CheckpointPath"] = checkpoint,
        };
        if (upstream is not null)
        {
            settings["ConnectionStrings:ollama"] = "Endpoint=" + upstream.ToString().TrimEnd('/');
            settings["DataPlane:JournalDirectory"] = Path.Combine(Path.GetTempPath(), "scorer-e2e-journal-" + Guid.NewGuid().ToString("N"));
            settings["DataPlane:PolicyCacheTtl"] = "00:00:00";
            settings["ClientIdentity:TrustedProxies:0"] = "127.0.0.1/32";
        }

        var app = GatewayApp.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
            if (clock is not null)
            {
                builder.Services.AddSingleton(clock);
            }
        });
        await app.StartAsync();
        return new GatewayHost(app, bootstrap, checkpoint, redisPrefix);
    }

    public HttpClient Admin(string? token = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(AdminUrl) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token ?? Bootstrap);
        return client;
    }

    public async Task<JsonElement> PostAsync(string path, object body, string? token = null)
    {
        using var admin = Admin(token);
        using var response = await admin.PostAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task PutAsync(string path, object body)
    {
        using var admin = Admin();
        using var response = await admin.PutAsJsonAsync(path, body);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    public async Task<JsonElement> GetAsync(string path)
    {
        using var admin = Admin();
        return await admin.GetFromJsonAsync<JsonElement>(path);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        File.Delete(_checkpoint);
    }
}

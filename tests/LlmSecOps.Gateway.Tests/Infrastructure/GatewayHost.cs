using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;
using LlmSecOps.Testing.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.Gateway.Tests.Infrastructure;

/// <summary>A real gateway on loopback ports (both listeners on port 0) against the harness's real Postgres.</summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private GatewayHost(WebApplication app, string bootstrapToken, CapturingLoggerProvider logs, string databaseConnectionString, string checkpointPath)
    {
        App = app;
        BootstrapToken = bootstrapToken;
        Logs = logs;
        DatabaseConnectionString = databaseConnectionString;
        CheckpointPath = checkpointPath;
        var registry = app.Services.GetRequiredService<ListenerRegistry>();
        AdminUrl = registry.Get("Admin").BaseUrl;
        DataUrl = registry.Get("Data").BaseUrl;
        AdminPort = registry.Get("Admin").Port;
        DataPort = registry.Get("Data").Port;
    }

    public WebApplication App { get; }

    public string BootstrapToken { get; }

    public CapturingLoggerProvider Logs { get; }

    public string DatabaseConnectionString { get; }

    public string CheckpointPath { get; }

    public string AdminUrl { get; }

    public string RedisPrefix { get; init; } = "";

    public string Pepper { get; init; } = "";

    public string DataUrl { get; }

    public int AdminPort { get; }

    public int DataPort { get; }

    /// <summary>Settings every test host gets (a test may override any).</summary>
    public static Dictionary<string, string?> BaseSettings(string database, string redis, string redisPrefix, string bootstrapToken, string pepper, string checkpointPath) => new()
    {
        ["ConnectionStrings:llmsecops"] = database,
        ["ConnectionStrings:redis"] = redis,
        ["Redis:KeyPrefix"] = redisPrefix,
        ["ControlPlane:BootstrapAdminToken"] = bootstrapToken,
        ["Keys:Pepper"] = pepper,
        ["Listeners:Data:Address"] = "127.0.0.1",
        ["Listeners:Data:Port"] = FreePort.Get().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Listeners:Admin:Port"] = FreePort.Get().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Audit:CheckpointPath"] = checkpointPath,
        ["Webhooks:PollInterval"] = "00:00:00.200",
        ["Webhooks:InitialBackoff"] = "00:00:00.200",
        ["Webhooks:MaxBackoff"] = "00:00:01",
        ["Logging:LogLevel:Default"] = "Debug",
    };

    /// <summary>Starts a gateway on a fresh database unless <paramref name="database"/> is given.</summary>
    public static async Task<GatewayHost> StartAsync(string? database = null, IDictionary<string, string?>? settings = null, string? pepper = null,
        string? bootstrapToken = null, string? checkpointPath = null, string? redis = null, string? redisPrefix = null)
    {
        redis ??= await TestServers.RedisAsync();
        redisPrefix ??= TestServers.NewKeyPrefix();
        database ??= await TestServers.NewDatabaseAsync();
        bootstrapToken ??= "boot_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        pepper ??= Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        checkpointPath ??= Path.Combine(Path.GetTempPath(), "llmsecops-audit-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var all = BaseSettings(database, redis, redisPrefix, bootstrapToken, pepper, checkpointPath);
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }

        var logs = new CapturingLoggerProvider();
        var app = GatewayApp.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(all);
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
        });
        await app.StartAsync();
        return new GatewayHost(app, bootstrapToken, logs, database, checkpointPath) { RedisPrefix = redisPrefix, Pepper = pepper };
    }

    /// <summary>A client for the admin listener with a bearer token (the bootstrap admin token by default).</summary>
    public HttpClient Admin(string? token = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(AdminUrl) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token ?? BootstrapToken);
        return client;
    }

    /// <summary>A client for the data listener, optionally with a key.</summary>
    public HttpClient Data(string? key = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(DataUrl) };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    /// <summary>Creates a tenant; returns its id.</summary>
    public async Task<string> CreateTenantAsync(string name = "acme", string? tier = null)
    {
        using var admin = Admin();
        var response = await admin.PostAsJsonAsync("/admin/tenants", tier is null ? new { name } : (object)new { name, tier });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    /// <summary>Issues a key for a tenant; returns (id, key).</summary>
    public async Task<(string Id, string Key)> IssueKeyAsync(string tenantId, object? body = null)
    {
        using var admin = Admin();
        var response = await admin.PostAsJsonAsync($"/admin/tenants/{tenantId}/keys", body ?? new { name = "k" });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (json.GetProperty("id").GetString()!, json.GetProperty("key").GetString()!);
    }

    /// <summary>Issues an admin/service token with a role; returns it.</summary>
    public async Task<string> IssueTokenAsync(string role, string name = "t")
    {
        using var admin = Admin();
        var response = await admin.PostAsJsonAsync("/admin/tokens", new { role, name });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

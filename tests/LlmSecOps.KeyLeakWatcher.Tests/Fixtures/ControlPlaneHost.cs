using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using LlmSecOps.Gateway;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

/// <summary>
/// The real gateway (control plane) in-process, as the gateway's own tests start it: its own database on the
/// harness's Postgres, the harness's Redis with a private key prefix, a bootstrap admin token.
/// </summary>
internal sealed class ControlPlaneHost : IAsyncDisposable
{
    private readonly string _checkpoint;

    private ControlPlaneHost(WebApplication app, string database, string bootstrapToken, string checkpoint)
    {
        App = app;
        Database = database;
        BootstrapToken = bootstrapToken;
        _checkpoint = checkpoint;
        AdminUrl = app.Services.GetRequiredService<ListenerRegistry>().Get("Admin").BaseUrl;
    }

    public WebApplication App { get; }

    public string Database { get; }

    public string BootstrapToken { get; }

    public string AdminUrl { get; }

    public static async Task<ControlPlaneHost> StartAsync()
    {
        var database = await TestServers.NewDatabaseAsync();
        var bootstrap = "boot_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        var checkpoint = Path.Combine(Path.GetTempPath(), "klw-audit-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:llmsecops"] = database,
            ["ConnectionStrings:redis"] = await TestServers.RedisAsync(),
            ["Redis:KeyPrefix"] = TestServers.NewKeyPrefix(),
            ["ControlPlane:BootstrapAdminToken"] = bootstrap,
            ["Keys:Pepper"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Listeners:Data:Address"] = "127.0.0.1",
            ["Listeners:Data:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Listeners:Admin:Port"] = FreePort.Get().ToString(CultureInfo.InvariantCulture),
            ["Audit:CheckpointPath"] = checkpoint,
        };
        var app = GatewayApp.Build([], builder => builder.Configuration.AddInMemoryCollection(settings));
        await app.StartAsync();
        return new ControlPlaneHost(app, database, bootstrap, checkpoint);
    }

    public HttpClient Admin(string? token = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(AdminUrl) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token ?? BootstrapToken);
        return client;
    }

    public async Task<string> CreateTenantAsync(string name)
    {
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync("/admin/tenants", new { name });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    public async Task<(string Id, string Key)> IssueKeyAsync(string tenantId)
    {
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync($"/admin/tenants/{tenantId}/keys", new { name = "k" });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (json.GetProperty("id").GetString()!, json.GetProperty("key").GetString()!);
    }

    public async Task<string> IssueServiceTokenAsync()
    {
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync("/admin/tokens", new { role = "service", name = "key-leak-watcher" });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    public async Task RevokeAsync(string keyId, string reason)
    {
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync($"/admin/keys/{keyId}/revoke", new { reason });
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    public async Task<JsonElement> GetKeyAsync(string keyId)
    {
        using var admin = Admin();
        return await admin.GetFromJsonAsync<JsonElement>($"/admin/keys/{keyId}");
    }

    /// <summary>The incidents recorded for a key.</summary>
    public async Task<List<JsonElement>> IncidentsAsync(string keyId)
    {
        using var admin = Admin();
        var json = await admin.GetFromJsonAsync<JsonElement>($"/admin/incidents?keyId={keyId}");
        var items = json.ValueKind == JsonValueKind.Array ? json : json.GetProperty("items");
        return [.. items.EnumerateArray()];
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        File.Delete(_checkpoint);
    }
}

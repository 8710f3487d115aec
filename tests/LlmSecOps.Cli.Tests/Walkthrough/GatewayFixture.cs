using System.Security.Cryptography;
using System.Text.Json;
using LlmSecOps.Gateway;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.Cli.Tests.Walkthrough;

/// <summary>
/// The real gateway (control plane and its minimal data plane) in-process on free loopback ports, on a fresh database of
/// the harness's real PostgreSQL and a key prefix of its real Redis, with a random bootstrap admin token. The CLI is driven against its admin listener.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    private WebApplication? _app;
    private string? _checkpointPath;

    /// <summary>The bootstrap admin token (role admin).</summary>
    public string BootstrapToken { get; } = "boot_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));

    /// <summary>The admin listener's base URL.</summary>
    public string AdminUrl { get; private set; } = "";

    /// <summary>The data listener's base URL.</summary>
    public string DataUrl { get; private set; } = "";

    /// <summary>The gateway's database connection string.</summary>
    public string Database { get; private set; } = "";

    /// <summary>The running app's services.</summary>
    public IServiceProvider Services => _app!.Services;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Database = await TestServers.NewDatabaseAsync();
        _checkpointPath = Path.Combine(Path.GetTempPath(), "llmsecops-cli-audit-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:llmsecops"] = Database,
            ["ConnectionStrings:redis"] = await TestServers.RedisAsync(),
            ["Redis:KeyPrefix"] = TestServers.NewKeyPrefix(),
            ["ControlPlane:BootstrapAdminToken"] = BootstrapToken,
            ["Keys:Pepper"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Listeners:Data:Address"] = "127.0.0.1",
            // Two distinct free ports: the listener registry maps local port -> listener, so both cannot be 0.
            ["Listeners:Data:Port"] = FreePort.Get().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Listeners:Admin:Port"] = FreePort.Get().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Audit:CheckpointPath"] = _checkpointPath,
            // Tests point webhooks at a closed loopback port; production refuses private targets (SSRF).
            ["Webhooks:AllowPrivateTargets"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        _app = GatewayApp.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.ClearProviders();
        });
        await _app.StartAsync();
        var registry = _app.Services.GetRequiredService<ListenerRegistry>();
        AdminUrl = registry.Get("Admin").BaseUrl;
        DataUrl = registry.Get("Data").BaseUrl;
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (_checkpointPath is not null)
        {
            File.Delete(_checkpointPath);
        }
    }

    /// <summary>The environment an operator would have: the admin URL and token in the documented variables.</summary>
    public Dictionary<string, string> OperatorEnvironment(string? token = null) => new()
    {
        ["LLMSECOPS_ADMIN_URL"] = AdminUrl,
        ["LLMSECOPS_ADMIN_TOKEN"] = token ?? BootstrapToken,
    };

    /// <summary>Runs the CLI as an operator holding the bootstrap admin token.</summary>
    public async Task<CliResult> CliAsync(params string[] args) => await CliRunner.RunWithAsync(OperatorEnvironment(), null, args);

    /// <summary>Runs the CLI with another token.</summary>
    public async Task<CliResult> CliAsTokenAsync(string token, params string[] args) => await CliRunner.RunWithAsync(OperatorEnvironment(token), null, args);

    /// <summary>Runs a command with <c>--json</c>, asserts exit 0, and returns the parsed answer.</summary>
    public async Task<JsonElement> CliJsonAsync(params string[] args)
    {
        var result = await CliAsync(["--json", .. args]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }

    /// <summary>Creates a tenant through the CLI; returns its id.</summary>
    public async Task<string> CreateTenantAsync(string name = "acme", string tier = "default") =>
        (await CliJsonAsync("tenants", "create", "--name", name, "--tier", tier)).GetProperty("id").GetString()!;
}

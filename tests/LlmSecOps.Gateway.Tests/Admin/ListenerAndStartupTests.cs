using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Tests.Admin;

public sealed class ListenerAndStartupTests
{
    [Fact]
    public async Task AdminRequestSentToTheDataPortWithASpoofedAdminHostGetsNothing()
    {
        await using var host = await GatewayHost.StartAsync();

        // The same request on the admin port works...
        using (var admin = host.Admin())
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/admin/tiers/default")).StatusCode);
        }

        // ...and on the data port, with Host claiming the admin listener and a valid admin token, it does not exist.
        var raw = await RawGetAsync(host.DataPort, "/admin/tiers/default", $"localhost:{host.AdminPort}", host.BootstrapToken);
        Assert.StartsWith("HTTP/1.1 404", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("allowedModels", raw, StringComparison.Ordinal);

        // Health lives on the admin listener only; model listings on the data listener only.
        var health = await RawGetAsync(host.DataPort, "/health/live", $"localhost:{host.AdminPort}", null);
        Assert.StartsWith("HTTP/1.1 404", health, StringComparison.Ordinal);
        var models = await RawGetAsync(host.AdminPort, "/v1/models", $"localhost:{host.DataPort}", null);
        Assert.StartsWith("HTTP/1.1 404", models, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewayRefusesToStartWithoutABootstrapAdminTokenAndSaysHowToSetIt()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            GatewayHost.StartAsync(settings: new Dictionary<string, string?> { ["ControlPlane:BootstrapAdminToken"] = "" }));
        Assert.Contains("ControlPlane__BootstrapAdminToken", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewayRefusesToStartWithoutAPepperAndSaysHowToGenerateOne()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            GatewayHost.StartAsync(settings: new Dictionary<string, string?> { ["Keys:Pepper"] = "" }));
        Assert.Contains("openssl rand -base64 32", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Keys__Pepper", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryMissingSecretIsReportedAtOnce()
    {
        var ex = await Assert.ThrowsAsync<AggregateException>(() => GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ControlPlane:BootstrapAdminToken"] = "",
            ["Keys:Pepper"] = "too short",
        }));
        Assert.Contains("ControlPlane__BootstrapAdminToken", ex.Message, StringComparison.Ordinal);
        Assert.Contains("shorter than 32 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BootstrapAdminTokenCanComeFromAMountedSecretFile()
    {
        var file = Path.GetTempFileName();
        var token = "file_" + Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        await File.WriteAllTextAsync(file, token + "\n");
        await using var host = await GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ControlPlane:BootstrapAdminToken"] = null,
            ["ControlPlane:BootstrapAdminTokenFile"] = file,
        });
        using var admin = host.Admin(token);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/admin/tiers")).StatusCode);
        using var wrong = host.Admin(token + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/admin/tiers")).StatusCode);
    }

    [Fact]
    public async Task AdminApiWithoutAValidBearerTokenAnswers401()
    {
        await using var host = await GatewayHost.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = new Uri(host.AdminUrl) };
        var response = await anonymous.GetAsync("/admin/tiers");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "lsoadm_" + new string('a', 43));
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/admin/tiers")).StatusCode);
    }

    [Fact]
    public async Task AdminTokensAreShownOnceAndStoredOnlyAsAHash()
    {
        await using var host = await GatewayHost.StartAsync();
        var token = await host.IssueTokenAsync("operator", "ops");
        Assert.StartsWith("lsoadm_", token, StringComparison.Ordinal);
        using var admin = host.Admin();
        var listed = await admin.GetStringAsync("/admin/tokens");
        Assert.Contains("ops", listed, StringComparison.Ordinal);
        Assert.DoesNotContain(token, listed, StringComparison.Ordinal);

        await using var connection = new Npgsql.NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT string_agg(t::text, ' ') FROM gateway.admin_tokens t", connection);
        var rows = (string)(await command.ExecuteScalarAsync())!;
        Assert.DoesNotContain(token, rows, StringComparison.Ordinal);
        Assert.DoesNotContain(token[7..], rows, StringComparison.Ordinal);
        Assert.DoesNotContain(host.BootstrapToken, rows, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(token))), rows, StringComparison.Ordinal);

        // A revoked token stops working at once.
        using var ops = host.Admin(token);
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/admin/tiers")).StatusCode);
        var id = System.Text.Json.JsonDocument.Parse(listed).RootElement.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "ops").GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/admin/tokens/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ops.GetAsync("/admin/tiers")).StatusCode);
    }

    private static async Task<string> RawGetAsync(int port, string path, string hostHeader, string? token)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = client.GetStream();
        var request = $"GET {path} HTTP/1.1\r\nHost: {hostHeader}\r\n" + (token is null ? "" : $"Authorization: Bearer {token}\r\n") + "Connection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadToEndAsync();
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Gateway.Webhooks;
using LlmSecOps.Testing;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.Webhooks;

public sealed class WebhookTests
{
    private static readonly Dictionary<string, string?> AllowLoopback = new() { ["Webhooks:AllowPrivateTargets"] = "true" };

    [Theory]
    [InlineData("http://127.0.0.1:9/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.1.2.3/hook")]
    [InlineData("http://192.168.0.10/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://[fe80::1]/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("http://user:pass@example.com/hook")]
    public async Task WebhookUrlsToNonPublicTargetsAreRefusedAndNothingChanges(string url)
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        using var admin = host.Admin();
        var response = await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/policy", new { webhookUrl = url, retentionDays = 3 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await response.ReadAsync()).GetProperty("errors").TryGetProperty("webhookUrl", out _));
        var after = (await (await admin.GetAsync($"/admin/tenants/{tenant}")).ReadAsync()).GetProperty("policy");
        Assert.Equal(JsonValueKind.Null, after.GetProperty("webhookUrl").ValueKind);
        Assert.Equal(30, after.GetProperty("retentionDays").GetInt32()); // the valid field was not applied either
    }

    [Fact]
    public async Task APrivateAddressSmuggledIntoTheDatabaseIsStillRefusedAtDelivery()
    {
        await using var receiver = await WebhookReceiver.StartAsync(FreePort.Get());
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        // Bypass the API's check, as DNS rebinding or a database edit would.
        await ExecuteAsync(host, $"UPDATE gateway.tenants SET webhook_url = '{receiver.Url}', webhook_secret_nonce = 'n', webhook_pepper_version = 1 WHERE id = '{tenant}'");
        var (id, _) = await host.IssueKeyAsync(tenant);
        using var admin = host.Admin();
        await admin.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "x" });
        var error = await WaitForAsync(host, "SELECT last_error FROM gateway.webhook_outbox WHERE last_error IS NOT NULL LIMIT 1");
        Assert.Contains("SSRF", error, StringComparison.Ordinal);
        Assert.Equal(0, receiver.Attempts);
    }

    [Fact]
    public async Task ARevocationWithASourceNotifiesTheOwnerWithAVerifiableSignatureAfterRetries()
    {
        await using var receiver = await WebhookReceiver.StartAsync(FreePort.Get(), failFirst: 2);
        await using var host = await GatewayHost.StartAsync(settings: AllowLoopback);
        var tenant = await host.CreateTenantAsync();
        using var admin = host.Admin();
        var policy = await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/policy", new { webhookUrl = receiver.Url });
        Assert.Equal(HttpStatusCode.OK, policy.StatusCode);
        var secret = (await policy.ReadAsync()).Str("webhookSecret");
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);

        var (id, _) = await host.IssueKeyAsync(tenant);
        using var service = host.Admin(await host.IssueTokenAsync("service"));
        var revoked = await service.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "burst from a new country", source = "anomaly", evidence = new { score = 0.99 } });
        var incidentId = (await revoked.ReadAsync()).Str("incidentId");

        await WaitAsync(() => !receiver.Received.IsEmpty, TimeSpan.FromSeconds(20));
        Assert.Equal(3, receiver.Attempts); // two 503s, then delivered
        var (signature, _, body, at) = Assert.Single(receiver.Received);
        var payload = JsonDocument.Parse(body).RootElement;
        Assert.Equal("incident.opened", payload.Str("type"));
        Assert.Equal(incidentId, payload.GetProperty("data").Str("id"));
        Assert.Equal(id, payload.GetProperty("data").Str("keyId"));

        // Verify as a receiver would, independently of the gateway's code: t=<unix>,v1=hex(HMAC-SHA256(secret, "{t}.{body}")).
        var parts = signature.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var t = long.Parse(parts["t"], CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(at.ToUnixTimeSeconds() - t) < 300);
        byte[] signed = [.. Encoding.UTF8.GetBytes(parts["t"] + "."), .. body];
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);
        Assert.Equal(Convert.ToHexStringLower(expected), parts["v1"]);
        Assert.True(WebhookSigner.Verify(secret, signature, body, at, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSigner.Verify(secret, signature, [.. body, (byte)' '], at, TimeSpan.FromMinutes(5)));
        Assert.False(WebhookSigner.Verify(secret, signature, body, at.AddMinutes(6), TimeSpan.FromMinutes(5)));

        Assert.Equal("3", await WaitForAsync(host, "SELECT attempts::text FROM gateway.webhook_outbox WHERE status = 'delivered'"));
    }

    [Fact]
    public async Task APendingNotificationSurvivesARestartAndIsDeliveredByTheNextProcess()
    {
        var database = await TestServers.NewDatabaseAsync();
        var pepper = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var receiverPort = FreePort.Get();
        string secret;
        await using (var first = await GatewayHost.StartAsync(database, AllowLoopback, pepper))
        {
            var tenant = await first.CreateTenantAsync();
            using var admin = first.Admin();
            var policy = await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/policy", new { webhookUrl = $"http://127.0.0.1:{receiverPort}/hook" });
            secret = (await policy.ReadAsync()).Str("webhookSecret");
            var (id, _) = await first.IssueKeyAsync(tenant);
            using var service = first.Admin(await first.IssueTokenAsync("service"));
            await service.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "leaked", source = "leak" });
            // Nobody listens yet: the first attempt fails and the notification stays pending.
            await WaitForAsync(first, "SELECT attempts::text FROM gateway.webhook_outbox WHERE attempts >= 1 AND status = 'pending'");
        }

        await using var receiver = await WebhookReceiver.StartAsync(receiverPort);
        await using var second = await GatewayHost.StartAsync(database, AllowLoopback, pepper);
        await WaitAsync(() => !receiver.Received.IsEmpty, TimeSpan.FromSeconds(20));
        var (signature, _, body, at) = Assert.Single(receiver.Received);
        Assert.True(WebhookSigner.Verify(secret, signature, body, at, TimeSpan.FromMinutes(5)));
        Assert.Equal("leak", JsonDocument.Parse(body).RootElement.GetProperty("data").Str("source"));
    }

    private static async Task WaitAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < timeout, "timed out");
            await Task.Delay(50);
        }
    }

    private static async Task<string> WaitForAsync(GatewayHost host, string sql)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            if (await command.ExecuteScalarAsync() is string value)
            {
                return value;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting for: " + sql);
            await Task.Delay(100);
        }
    }

    private static async Task ExecuteAsync(GatewayHost host, string sql)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

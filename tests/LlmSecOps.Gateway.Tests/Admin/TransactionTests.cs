using System.Net;
using System.Net.Http.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.Admin;

public sealed class TransactionTests
{
    [Fact]
    public async Task AFailureAfterTheFirstWriteRollsBackTheWholeRevocation()
    {
        await using var host = await GatewayHost.StartAsync(settings: new Dictionary<string, string?> { ["Webhooks:AllowPrivateTargets"] = "true" });
        var tenant = await host.CreateTenantAsync();
        using var admin = host.Admin();
        await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/policy", new { webhookUrl = "http://127.0.0.1:9/hook" });
        var (id, key) = await host.IssueKeyAsync(tenant);

        // Make the audit append (after the key row was updated) fail, as a disk or constraint failure would.
        await ExecuteAsync(host, "ALTER TABLE gateway.audit_log ADD CONSTRAINT no_revoke_rows CHECK (action <> 'key.revoke')");
        using var service = host.Admin(await host.IssueTokenAsync("service"));
        var failed = await service.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "r", source = "leak", evidence = new { a = 1 } });
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal("application/problem+json", failed.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("   at ", await failed.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal("active", (await (await admin.GetAsync($"/admin/keys/{id}")).ReadAsync()).Str("status"));
        Assert.Equal("0", await ScalarAsync(host, "SELECT count(*)::text FROM gateway.incidents"));
        Assert.Equal("0", await ScalarAsync(host, "SELECT count(*)::text FROM gateway.webhook_outbox"));
        using (var data = host.Data(key))
        {
            Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
        }

        await ExecuteAsync(host, "ALTER TABLE gateway.audit_log DROP CONSTRAINT no_revoke_rows");
        Assert.Equal(HttpStatusCode.OK, (await service.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "r", source = "leak" })).StatusCode);
        Assert.Equal("1", await ScalarAsync(host, "SELECT count(*)::text FROM gateway.incidents"));
        Assert.Equal("1", await ScalarAsync(host, "SELECT count(*)::text FROM gateway.webhook_outbox"));
    }

    [Fact]
    public async Task ReadinessReportsPostgresAndRedisOnTheAdminListener()
    {
        await using var host = await GatewayHost.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(host.AdminUrl) };
        var ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    private static async Task ExecuteAsync(GatewayHost host, string sql)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> ScalarAsync(GatewayHost host, string sql)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}

using Npgsql;

namespace LlmSecOps.Cli.Tests.Walkthrough;

/// <summary>Tampering breaks the chain for good, so this test has a gateway (and database) of its own.</summary>
public sealed class AuditTamperTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task AuditVerifyExitsWith5AndNamesTheFirstBrokenRowAfterARowIsEdited()
    {
        var tenantId = await gateway.CreateTenantAsync("tamper");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0, (await gateway.CliAsync("keys", "issue", tenantId)).ExitCode);
        }

        Assert.Equal(0, (await gateway.CliAsync("audit", "verify")).ExitCode);

        // A database owner can switch the append-only trigger off; the hash chain still gives the edit away.
        await using (var connection = new NpgsqlConnection(gateway.Database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "ALTER TABLE gateway.audit_log DISABLE TRIGGER USER; UPDATE gateway.audit_log SET actor = 'mallory' WHERE seq = 2;", connection);
            await command.ExecuteNonQueryAsync();
        }

        var verify = await gateway.CliAsync("audit", "verify");
        Assert.True(verify.ExitCode == 5, verify.ToString());
        Assert.Contains("the audit chain is BROKEN at row 2", verify.Stderr);

        var json = await gateway.CliAsync("--json", "audit", "verify");
        Assert.Equal(5, json.ExitCode);
        Assert.Contains("\"firstBrokenSeq\": 2", json.Stdout);
    }
}

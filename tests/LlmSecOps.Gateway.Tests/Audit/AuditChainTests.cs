using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.Audit;

public sealed class AuditChainTests
{
    [Fact]
    public async Task EveryAdminActionRevocationAndReinstatementIsChainedAndTheChainVerifies()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, _) = await host.IssueKeyAsync(tenant);
        using var admin = host.Admin();
        await admin.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "r" });
        await admin.PostAsync($"/admin/keys/{id}/reinstate", null);
        await admin.PostAsync($"/admin/tenants/{tenant}/suspend", null);

        var actions = await QueryAsync(host, "SELECT action FROM gateway.audit_log ORDER BY seq");
        Assert.Equal(["tenant.create", "key.issue", "key.revoke", "key.reinstate", "tenant.suspend"], actions);
        var verify = await VerifyAsync(host);
        Assert.True(verify.GetProperty("valid").GetBoolean());
        Assert.Equal(5, verify.GetProperty("headSeq").GetInt64());

        // A failed (invalid) request leaves no audit row: the action and its audit row are one transaction.
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsJsonAsync("/admin/tenants", new { name = "" })).StatusCode);
        Assert.Equal(5, (await QueryAsync(host, "SELECT action FROM gateway.audit_log")).Count);
    }

    [Fact]
    public async Task TheAuditLogRefusesUpdatesAndDeletesThroughTheDatabase()
    {
        await using var host = await GatewayHost.StartAsync();
        await host.CreateTenantAsync();
        var ex = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(host, "UPDATE gateway.audit_log SET actor = 'someone else'"));
        Assert.Contains("append-only", ex.MessageText, StringComparison.Ordinal);
        await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(host, "DELETE FROM gateway.audit_log"));
    }

    [Fact]
    public async Task AnEditedRowIsNamedAsTheFirstBrokenRow()
    {
        await using var host = await GatewayHost.StartAsync();
        await MakeActionsAsync(host, 6);
        // The attacker has the database owner's rights: disables the trigger, edits row 3.
        await ExecuteAsync(host, "ALTER TABLE gateway.audit_log DISABLE TRIGGER USER; UPDATE gateway.audit_log SET actor = 'admin:nobody' WHERE seq = 3");
        var verify = await VerifyAsync(host);
        Assert.False(verify.GetProperty("valid").GetBoolean());
        Assert.Equal(3, verify.GetProperty("firstBrokenSeq").GetInt64());
    }

    [Fact]
    public async Task DeletingTheNewestRowsIsDetectedThroughTheCheckpoint()
    {
        await using var host = await GatewayHost.StartAsync();
        await MakeActionsAsync(host, 6);
        var checkpoint = await host.App.Services.GetRequiredService<AuditCheckpointer>().CheckpointAsync(CancellationToken.None);
        Assert.NotNull(checkpoint);
        var head = checkpoint.Seq;
        Assert.Contains(host.Logs.Lines, l => l.Contains($"AUDIT-CHECKPOINT seq={head}", StringComparison.Ordinal));
        Assert.True(File.Exists(host.CheckpointPath));

        await ExecuteAsync(host, $"ALTER TABLE gateway.audit_log DISABLE TRIGGER USER; DELETE FROM gateway.audit_log WHERE seq > {head - 2}");
        var verify = await VerifyAsync(host);
        Assert.False(verify.GetProperty("valid").GetBoolean());
        Assert.Equal(head - 1, verify.GetProperty("firstBrokenSeq").GetInt64());
        Assert.Contains("deleted", verify.Str("problem"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChainRewrittenConsistentlyFromSomeRowOnIsDetectedThroughTheCheckpoint()
    {
        await using var host = await GatewayHost.StartAsync();
        var checkpointer = host.App.Services.GetRequiredService<AuditCheckpointer>();
        await MakeActionsAsync(host, 2); // tenant.create + key.issue, twice: rows 1-4
        var first = await checkpointer.CheckpointAsync(CancellationToken.None);
        Assert.Equal(4, first!.Seq);
        await MakeActionsAsync(host, 3); // rows 5-10
        var second = await checkpointer.CheckpointAsync(CancellationToken.None);
        Assert.Equal(10, second!.Seq);

        // Rewrite rows 6.. with different content and recompute every hash so the chain is internally consistent.
        await RewriteFromAsync(host, 6);
        var internalOnly = await VerifyChainOnlyAsync(host);
        Assert.True(internalOnly, "the rewrite should be internally consistent (only the checkpoint can catch it)");

        var verify = await VerifyAsync(host);
        Assert.False(verify.GetProperty("valid").GetBoolean());
        Assert.Equal(5, verify.GetProperty("firstBrokenSeq").GetInt64());
        Assert.Contains("rewritten", verify.Str("problem"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AForgedCheckpointLineIsReported()
    {
        await using var host = await GatewayHost.StartAsync();
        await MakeActionsAsync(host, 1);
        await host.App.Services.GetRequiredService<AuditCheckpointer>().CheckpointAsync(CancellationToken.None);
        await File.AppendAllTextAsync(host.CheckpointPath,
            """{"seq":1,"hash":"00","at":"2026-01-01T00:00:00Z","pepperVersion":1,"signature":"00"}""" + "\n");
        var verify = await VerifyAsync(host);
        Assert.False(verify.GetProperty("valid").GetBoolean());
        Assert.Contains("bad signature", verify.Str("problem"), StringComparison.Ordinal);
    }

    private static async Task MakeActionsAsync(GatewayHost host, int tenants)
    {
        for (var i = 0; i < tenants; i++)
        {
            var tenant = await host.CreateTenantAsync("t" + i);
            await host.IssueKeyAsync(tenant);
        }
    }

    private static async Task<JsonElement> VerifyAsync(GatewayHost host)
    {
        // The bootstrap admin (admin includes auditor): issuing a token here would itself add an audit row.
        using var auditor = host.Admin();
        var response = await auditor.GetAsync("/admin/audit/verify");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.ReadAsync();
    }

    /// <summary>Recomputes the chain from the rows alone (what an attacker can make consistent).</summary>
    private static async Task<bool> VerifyChainOnlyAsync(GatewayHost host)
    {
        var prev = AuditChain.Genesis;
        foreach (var row in await RowsAsync(host))
        {
            if (!row.PrevHash.SequenceEqual(prev) || !AuditChain.ComputeHash(prev, row.Seq, row.Ts, row.Actor, row.Action, row.Target, row.Details).SequenceEqual(row.Hash))
            {
                return false;
            }

            prev = row.Hash;
        }

        return true;
    }

    private static async Task RewriteFromAsync(GatewayHost host, long fromSeq)
    {
        var rows = await RowsAsync(host);
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using (var disable = new NpgsqlCommand("ALTER TABLE gateway.audit_log DISABLE TRIGGER USER", connection))
        {
            await disable.ExecuteNonQueryAsync();
        }

        var prev = rows.Single(r => r.Seq == fromSeq - 1).Hash;
        foreach (var row in rows.Where(r => r.Seq >= fromSeq))
        {
            var actor = "admin:forger(bootstrap)";
            var hash = AuditChain.ComputeHash(prev, row.Seq, row.Ts, actor, row.Action, row.Target, row.Details);
            await using var update = new NpgsqlCommand("UPDATE gateway.audit_log SET actor = @actor, prev_hash = @prev, hash = @hash WHERE seq = @seq", connection);
            update.Parameters.AddWithValue("actor", actor);
            update.Parameters.AddWithValue("prev", prev);
            update.Parameters.AddWithValue("hash", hash);
            update.Parameters.AddWithValue("seq", row.Seq);
            await update.ExecuteNonQueryAsync();
            prev = hash;
        }
    }

    private static async Task<List<AuditRow>> RowsAsync(GatewayHost host)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT seq, ts, actor, action, target, details, prev_hash, hash FROM gateway.audit_log ORDER BY seq", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<AuditRow>();
        while (await reader.ReadAsync())
        {
            rows.Add(new AuditRow(reader.GetInt64(0), reader.GetDateTime(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.GetString(5), (byte[])reader[6], (byte[])reader[7]));
        }

        return rows;
    }

    private static async Task<List<string>> QueryAsync(GatewayHost host, string sql)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    private static async Task ExecuteAsync(GatewayHost host, string sql)
    {
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private sealed record AuditRow(long Seq, DateTime Ts, string Actor, string Action, string Target, string Details, byte[] PrevHash, byte[] Hash);
}

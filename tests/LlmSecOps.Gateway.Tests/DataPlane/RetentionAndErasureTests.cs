using System.Net;
using System.Net.Http.Json;
using LlmSecOps.Gateway.Events;
using LlmSecOps.Gateway.Records;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// Request records are deletable (ARCHITECTURE.md "Records: two kinds"): a background retention sweep deletes rows
/// older than the tenant's (or the global) retention in batches, and tenant erasure removes one tenant's records,
/// prompt text included, and no other tenant's.
/// </summary>
public sealed class RetentionAndErasureTests
{
    [Fact]
    public async Task TheRetentionSweepDeletesRecordsOlderThanEachTenantsRetentionInBatchesAndKeepsTheRest()
    {
        await using var f = await DataPlaneFixture.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Records:Retention:Interval"] = "00:00:01",
            ["Records:Retention:BatchSize"] = "50",
            ["Records:Retention:DefaultDays"] = "7",
        });
        var shortTenant = f.TenantId; // the default retention: 30 days
        var longTenant = await f.Gateway.CreateTenantAsync("long");
        var zeroTenant = await f.Gateway.CreateTenantAsync("zero");
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/tenants/{longTenant}/policy", new { retentionDays = 90 })).EnsureSuccessStatusCode();
            (await admin.PutAsJsonAsync($"/admin/tenants/{zeroTenant}/policy", new { retentionDays = 0 })).EnsureSuccessStatusCode();
        }

        // Back-dated rows: 120 per age so deleting them takes several 50-row batches.
        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        var rows = new List<(string Tenant, int AgeDays, bool Kept)>
        {
            (shortTenant, 40, false), (shortTenant, 20, true),
            (longTenant, 100, false), (longTenant, 40, true),
            (zeroTenant, 1, false),
            ("", 10, false), ("", 3, true), // no tenant (refused before authentication): DefaultDays = 7
        };
        foreach (var (tenant, age, _) in rows)
        {
            await InsertAsync(db, tenant, age, 120);
        }

        await Kit.WaitUntilAsync(async () => await CountAsync(db, "ts < now() - interval '1 day' AND (tenant_id IS NULL OR tenant_id <> @t)", zeroTenant) == 120 * 3
                && await CountAsync(db, "tenant_id = @t", zeroTenant) == 0,
            "the retention sweep never deleted the expired records");
        foreach (var (tenant, age, kept) in rows)
        {
            var count = await CountAsync(db, $"COALESCE(tenant_id, '') = @t AND ts < now() - interval '{age - 1} days' AND ts > now() - interval '{age + 1} days'", tenant);
            Assert.True(count == (kept ? 120 : 0), $"tenant '{tenant}', rows {age} days old: {count} left");
        }

        // The sweep logs its total after its last batch committed, a moment after the rows are gone: wait for it.
        await Kit.WaitUntilAsync(() => Task.FromResult(f.Gateway.Logs.Lines.Any(l => l.Contains("Retention deleted", StringComparison.Ordinal))),
            "the retention sweep did not log what it deleted");
    }

    [Fact]
    public void RetentionOptionsOutsideTheirBoundsAreAllReportedAtOnce()
    {
        var result = new RecordRetentionOptionsValidator().Validate(null, new RecordRetentionOptions
        {
            Interval = TimeSpan.Zero, DefaultDays = 0, MaxDays = 5000, BatchSize = 1,
        });
        Assert.True(result.Failed);
        Assert.Equal(4, result.Failures!.Count());
        Assert.True(new RecordRetentionOptionsValidator().Validate(null, new RecordRetentionOptions()).Succeeded);
    }

    [Fact]
    public async Task AGatewayWithAnInvalidRetentionSettingRefusesToStart()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Records:Retention:DefaultDays"] = "0",
        }));
        Assert.Contains("Records:Retention:DefaultDays", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TenantErasureRemovesThatTenantsRecordsAndPromptsOnlyIsAdminOnlyAndAudited()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        var other = await f.Gateway.CreateTenantAsync("other");
        var (_, otherKey) = await f.Gateway.IssueKeyAsync(other);
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/tenants/{f.TenantId}/policy", new { loggingPolicy = "redacted" })).EnsureSuccessStatusCode();
            (await admin.PutAsJsonAsync($"/admin/tenants/{other}/policy", new { loggingPolicy = "redacted" })).EnsureSuccessStatusCode();
        }

        using (var client = f.Client())
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Kit.Chat("my secret diagnosis"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/chat", Kit.Chat("my secret diagnosis again"))).StatusCode);
        }

        using (var client = f.Client(otherKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Kit.Chat("the other tenant's prompt"))).StatusCode);
        }

        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        await InsertAsync(db, f.TenantId, 3, 10);
        await InsertAsync(db, other, 3, 10);
        await Kit.WaitUntilAsync(async () => await CountAsync(db, "tenant_id = @t", f.TenantId) == 12 && await CountAsync(db, "tenant_id = @t", other) == 11,
            "the records never arrived");

        // Operators cannot erase; admins can.
        var operatorToken = await f.Gateway.IssueTokenAsync("operator");
        using (var asOperator = f.Gateway.Admin(operatorToken))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await asOperator.DeleteAsync($"/admin/tenants/{f.TenantId}/records")).StatusCode);
        }

        Assert.Equal(12, await CountAsync(db, "tenant_id = @t", f.TenantId));
        using var admin2 = f.Gateway.Admin();
        var erased = await admin2.DeleteAsync($"/admin/tenants/{f.TenantId}/records");
        Assert.Equal(HttpStatusCode.OK, erased.StatusCode);
        Assert.Equal(12, (await erased.ReadAsync()).GetProperty("erased").GetProperty("requestRecords").GetInt64());

        Assert.Equal(0, await CountAsync(db, "tenant_id = @t", f.TenantId));
        Assert.Equal(0, await CountAsync(db, "redacted_prompt LIKE '%diagnosis%' AND tenant_id IS NOT DISTINCT FROM @t", f.TenantId));
        Assert.Equal(11, await CountAsync(db, "tenant_id = @t", other));
        Assert.Equal(1, await CountAsync(db, "tenant_id = @t AND redacted_prompt LIKE '%other tenant%'", other));
        Assert.Equal(1, await Kit.ScalarAsync<long>(f.Gateway.DatabaseConnectionString,
            "SELECT count(*) FROM gateway.audit_log WHERE action = 'tenant.erase-records' AND target = @t", ("t", f.TenantId)));

        // Unknown tenant: 404, nothing changes.
        Assert.Equal(HttpStatusCode.NotFound, (await admin2.DeleteAsync("/admin/tenants/tnt_doesnotexist0000/records")).StatusCode);
        Assert.Equal(11, await CountAsync(db, "tenant_id = @t", other));
    }

    [Fact]
    public async Task ARecordMadeBeforeAnErasureButWrittenAfterItNeverLands()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        var other = await f.Gateway.CreateTenantAsync("other");
        using var admin = f.Gateway.Admin();
        var before = DateTimeOffset.UtcNow.AddSeconds(-5);
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"/admin/tenants/{f.TenantId}/records")).StatusCode);

        // As if these records had waited in a replica's journal while Postgres was down: made before the erasure,
        // reaching the record writer after it. The erased tenant's is dropped; the other tenant's lands; a record the
        // erased tenant makes afterwards lands too.
        var publisher = f.Gateway.App.Services.GetRequiredService<RequestEventPublisher>();
        var stale = Outcome(f.TenantId, before);
        var bystander = Outcome(other, before);
        var fresh = Outcome(f.TenantId, DateTimeOffset.UtcNow.AddSeconds(5));
        publisher.Publish(stale);
        publisher.Publish(bystander);
        publisher.Publish(fresh);

        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        await Kit.WaitUntilAsync(async () => await CountAsync(db, "request_id = @t", fresh.RequestId) == 1, "the later record never arrived");
        Assert.Equal(1, await CountAsync(db, "request_id = @t", bystander.RequestId));
        Assert.Equal(0, await CountAsync(db, "request_id = @t", stale.RequestId));
    }

    private static RequestOutcome Outcome(string tenantId, DateTimeOffset ts) => new()
    {
        Ts = ts,
        RequestId = "req_test" + Guid.NewGuid().ToString("N"),
        TenantId = tenantId,
        Endpoint = "POST /v1/chat/completions",
        Status = 200,
        Outcome = "ok",
        LoggingPolicy = "redacted",
        RedactedPrompt = "queued before the erasure",
    };

    private static async Task InsertAsync(NpgsqlConnection db, string tenantId, int ageDays, int count)
    {
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO gateway.request_records (request_id, ts, tenant_id, endpoint, status, outcome, redacted_prompt)
            SELECT 'req_old' || md5(random()::text || g::text), now() - make_interval(days => @age), NULLIF(@t, ''), 'POST /v1/chat/completions', 200, 'ok',
                   'an old prompt'
            FROM generate_series(1, @n) g
            """, db);
        insert.Parameters.AddWithValue("age", ageDays);
        insert.Parameters.AddWithValue("t", tenantId);
        insert.Parameters.AddWithValue("n", count);
        await insert.ExecuteNonQueryAsync();
    }

    private static async Task<long> CountAsync(NpgsqlConnection db, string where, string tenantId)
    {
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM gateway.request_records WHERE {where}", db);
        command.Parameters.AddWithValue("t", tenantId);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}

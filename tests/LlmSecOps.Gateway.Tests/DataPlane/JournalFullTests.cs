using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Limits;
using LlmSecOps.Redis;
using LlmSecOps.Simulator;
using LlmSecOps.Testing;
using LlmSecOps.Testing.Postgres;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// ARCHITECTURE.md's Postgres failure behaviour end to end: while Postgres is down the request records spill to the
/// bounded on-disk journal; once it is full the data plane answers 503 (in each API's format) and forwards nothing;
/// when Postgres returns the journal drains, traffic is accepted again, every served request's record arrives and
/// the settled usage agrees with the Redis budget counters. Postgres is a private server so it can be killed.
/// </summary>
public sealed class JournalFullTests
{
    // 8 KB prompts under the 'redacted' policy make ~8 KB records, so ~150 requests fill a 1.2 MB journal (the journal's
    // smallest size: one segment must hold a 1 MiB record).
    private static readonly string s_prompt = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 180));

    [Fact]
    public async Task WhilePostgresIsDownAFullRecordJournalAnswers503ForwardsNothingAndEveryServedRecordArrivesAfterItReturns()
    {
        await using var postgres = await PostgresServerProcess.StartAsync();
        // synchronous_commit=on: the throw-away server runs with it off, and an immediate stop would then lose commits the
        // gateway was already told were done (not what this test is about).
        var database = await postgres.CreateDatabaseAsync("gw") + ";Maximum Pool Size=8;Timeout=5;Options=-c synchronous_commit=on";
        // The test's own queries: unpooled, so no connection broken by the kill is reused after the restart.
        var query = database + ";Pooling=false";
        await using var simulator = await SimulatorHost.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(database: database, settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:ollama"] = "Endpoint=" + simulator.BaseAddress.ToString().TrimEnd('/'),
            ["DataPlane:JournalDirectory"] = Path.Combine(Path.GetTempPath(), "llmsecops-journal-" + Guid.NewGuid().ToString("N")),
            ["DataPlane:JournalMaxBytes"] = "1200000",
            // Keys, tenants, tiers and model approvals come from Postgres: the in-process caches carry the outage.
            ["DataPlane:PolicyCacheTtl"] = "00:05:00",
            ["Keys:CacheTtl"] = "00:10:00",
        });
        await Kit.ApproveSimulatorModelsAsync(gateway, simulator);
        using (var admin = gateway.Admin())
        {
            (await admin.PutAsJsonAsync("/admin/tiers/open", new
            {
                allowedModels = new[] { "*" }, defaultMaxTokens = 16, maxMaxTokens = 32, requestsPerMinute = 100_000, tokensPerMinute = 100_000_000, concurrency = 100,
            })).EnsureSuccessStatusCode();
        }

        var tenantId = await gateway.CreateTenantAsync("journal", "open");
        var (keyId, key) = await gateway.IssueKeyAsync(tenantId);
        // A second tenant that keeps no records at all: its usage must still survive the outage.
        var quietTenant = await gateway.CreateTenantAsync("quiet", "open");
        var (quietKeyId, quietKey) = await gateway.IssueKeyAsync(quietTenant);
        using (var admin = gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/tenants/{tenantId}/policy", new { loggingPolicy = "redacted" })).EnsureSuccessStatusCode();
            (await admin.PutAsJsonAsync($"/admin/tenants/{quietTenant}/policy", new { loggingPolicy = "none" })).EnsureSuccessStatusCode();
            (await admin.PutAsJsonAsync($"/admin/keys/{keyId}/budget", new { dailyTokens = 1_000_000_000 })).EnsureSuccessStatusCode();
            (await admin.PutAsJsonAsync($"/admin/keys/{quietKeyId}/budget", new { dailyTokens = 1_000_000_000 })).EnsureSuccessStatusCode();
        }

        using var client = gateway.Data(key);
        using var quiet = gateway.Data(quietKey);
        var served = new List<string>();
        var warm = await client.PostAsync("/v1/chat/completions", Kit.Chat(s_prompt));
        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        served.Add(Kit.Header(warm, "x-request-id"));
        Assert.Equal(HttpStatusCode.OK, (await quiet.PostAsync("/v1/chat/completions", Kit.Chat())).StatusCode);
        await Kit.WaitUntilAsync(async () => await RecordsAsync(query, keyId) == 1, "the first record never reached Postgres");

        await postgres.KillAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await quiet.PostAsync("/api/chat", Kit.Chat("quiet " + i))).StatusCode);
        }

        HttpResponseMessage? refused = null;
        for (var i = 0; i < 1000 && refused is null; i++)
        {
            var response = await client.PostAsync("/v1/chat/completions", Kit.Chat(s_prompt));
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                refused = response;
                break;
            }

            Assert.True(response.StatusCode == HttpStatusCode.OK, $"request {i} while Postgres is down: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            served.Add(Kit.Header(response, "x-request-id"));
        }

        Assert.NotNull(refused);
        Assert.True(served.Count > 20, $"only {served.Count} requests were served before the 1.2 MB journal was full");
        var error = (await refused.ReadAsync()).GetProperty("error");
        Assert.Equal("service_unavailable", error.Str("code"));
        Assert.Equal("server_error", error.Str("type"));

        // Full: nothing more reaches the upstream, in either API's format.
        var upstreamBefore = simulator.State.Requests.Snapshot().Count;
        var openAi = await client.PostAsync("/v1/chat/completions", Kit.Chat());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, openAi.StatusCode);
        var ollama = await client.PostAsync("/api/chat", Kit.Chat());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ollama.StatusCode);
        Assert.Equal(JsonValueKind.String, (await ollama.ReadAsync()).GetProperty("error").ValueKind);
        Assert.Equal(upstreamBefore, simulator.State.Requests.Snapshot().Count);

        // Postgres returns: the journal drains and the data plane serves again.
        await postgres.RestartAsync();
        await Kit.WaitUntilAsync(async () =>
        {
            using var response = await client.PostAsync("/v1/chat/completions", Kit.Chat(s_prompt));
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, response.StatusCode.ToString());
            if (response.StatusCode == HttpStatusCode.OK)
            {
                served.Add(Kit.Header(response, "x-request-id"));
            }

            return response.StatusCode == HttpStatusCode.OK;
        }, "the data plane never accepted traffic again after Postgres returned", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(250));

        // No loss: every served request has its record (exactly once), prompt redacted-policy text included.
        long arrived = 0;
        try
        {
            await Kit.WaitUntilAsync(async () => (arrived = await RecordsAsync(query, keyId)) >= served.Count, "records never all arrived", TimeSpan.FromSeconds(60));
        }
        catch (Xunit.Sdk.XunitException)
        {
            var present = new HashSet<string>();
            await using (var db = new NpgsqlConnection(query))
            {
                await db.OpenAsync();
                await using var ids = new NpgsqlCommand("SELECT request_id FROM gateway.request_records", db);
                await using var reader = await ids.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    present.Add(reader.GetString(0));
                }
            }

            var missing = served.Select((id, i) => (id, i)).Where(x => !present.Contains(x.id)).Select(x => $"#{x.i} {x.id}");
            Assert.Fail($"{arrived} of {served.Count} records arrived; missing {string.Join(", ", missing)}; record pipeline log:\n" +
                string.Join('\n', gateway.Logs.Lines.Where(l => l.Contains("Records", StringComparison.Ordinal)).TakeLast(20)));
        }

        await using (var db = new NpgsqlConnection(query))
        {
            await db.OpenAsync();
            await using var ids = new NpgsqlCommand("SELECT request_id, redacted_prompt IS NOT NULL FROM gateway.request_records WHERE key_id = @k", db);
            ids.Parameters.AddWithValue("k", keyId);
            var stored = new Dictionary<string, bool>();
            await using (var reader = await ids.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    stored.Add(reader.GetString(0), reader.GetBoolean(1));
                }
            }

            Assert.Equal(served.Order(), stored.Keys.Order());
            Assert.All(stored.Values, Assert.True);
        }

        // Budgets right: the Redis counter (what was reserved and settled) equals the usage settled in Postgres and the
        // tokens of the records, so a Redis restart would rebuild the same number.
        var counterKey = BudgetPeriods.DayKey(gateway.RedisPrefix, "key", keyId, DateTimeOffset.UtcNow);
        await Kit.WaitUntilAsync(async () =>
            await Kit.ScalarAsync<long>(query, "SELECT count(*) FROM gateway.usage WHERE key_id = @k", ("k", keyId)) >= served.Count,
            "usage rows of requests served while Postgres was down never arrived", TimeSpan.FromSeconds(60));
        var settled = await Kit.ScalarAsync<long>(query, "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM gateway.usage WHERE key_id = @k", ("k", keyId));
        var recorded = await Kit.ScalarAsync<long>(query, "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM gateway.request_records WHERE key_id = @k", ("k", keyId));
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        var used = long.Parse((await redis.ExecuteAsync("HGET", counterKey, "used")).AsString()!, CultureInfo.InvariantCulture);
        Assert.True(settled > 0);
        Assert.Equal(recorded, settled);
        Assert.Equal(settled, used);

        // The 'none' tenant: no request row ever, but all 4 usage rows, and its budget counter agrees with them.
        await Kit.WaitUntilAsync(async () =>
            await Kit.ScalarAsync<long>(query, "SELECT count(*) FROM gateway.usage WHERE key_id = @k", ("k", quietKeyId)) == 4,
            "usage of the 'none' tenant's requests served while Postgres was down never arrived");
        Assert.Equal(0, await RecordsAsync(query, quietKeyId));
        var quietSettled = await Kit.ScalarAsync<long>(query, "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM gateway.usage WHERE key_id = @k", ("k", quietKeyId));
        var quietUsed = long.Parse((await redis.ExecuteAsync("HGET", BudgetPeriods.DayKey(gateway.RedisPrefix, "key", quietKeyId, DateTimeOffset.UtcNow), "used")).AsString()!,
            CultureInfo.InvariantCulture);
        Assert.Equal(quietSettled, quietUsed);
    }

    private static Task<long> RecordsAsync(string database, string keyId) =>
        Kit.ScalarAsync<long>(database, "SELECT count(*) FROM gateway.request_records WHERE key_id = @k", ("k", keyId));
}

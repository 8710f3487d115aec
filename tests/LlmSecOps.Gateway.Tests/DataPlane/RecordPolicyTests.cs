using System.Net;
using System.Net.Http.Json;
using LlmSecOps.Contracts.Keys;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// Per-tenant logging policies of request records (issue 4 point 11): <c>none</c> = no row (the event is still
/// emitted), <c>metadata</c> = a row without prompt text, <c>redacted</c> = the prompt after redaction.
/// </summary>
public sealed class RecordPolicyTests
{
    [Fact]
    public async Task NoneWritesNoRowMetadataKeepsNoPromptAndRedactedKeepsThePromptWithoutTheKeyOrTheCardNumber()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        var leakedKey = ApiKey.Create(KeyEnvironment.Live); // well-formed (checksum valid), as a user might paste one
        const string card = "4111 1111 1111 1111"; // Luhn-valid test Visa number
        var marker = "marker" + Guid.NewGuid().ToString("N");
        var prompt = $"{marker} please debug this: key {leakedKey} and card {card} thanks";

        var tenants = new Dictionary<string, (string TenantId, string Key)>();
        foreach (var policy in new[] { "none", "metadata", "redacted" })
        {
            var tenantId = await f.Gateway.CreateTenantAsync("records-" + policy);
            using (var admin = f.Gateway.Admin())
            {
                (await admin.PutAsJsonAsync($"/admin/tenants/{tenantId}/policy", new { loggingPolicy = policy })).EnsureSuccessStatusCode();
            }

            tenants[policy] = (tenantId, (await f.Gateway.IssueKeyAsync(tenantId)).Key);
        }

        // 'none' first: records are written in the order requests finish, so once the later rows are in, its row
        // would be too if one had been written.
        foreach (var policy in new[] { "none", "metadata", "redacted" })
        {
            using var client = f.Client(tenants[policy].Key);
            var response = await client.PostAsync("/v1/chat/completions", Kit.Chat(prompt));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Kit.WaitUntilAsync(async () =>
            await CountAsync(f, tenants["metadata"].TenantId) == 1 && await CountAsync(f, tenants["redacted"].TenantId) == 1,
            "the metadata and redacted records never arrived");
        Assert.Equal(0, await CountAsync(f, tenants["none"].TenantId));

        // The event is emitted under every policy.
        var events = await f.EventsAsync(3);
        foreach (var (tenantId, _) in tenants.Values)
        {
            Assert.Contains(events, e => e["tenant_id"] == tenantId && e["outcome"] == "ok");
        }

        var metadata = await RowAsync(f, tenants["metadata"].TenantId);
        Assert.Null(metadata.Prompt);
        Assert.DoesNotContain(marker, metadata.Json, StringComparison.Ordinal);
        Assert.Contains("\"prompt_tokens\"", metadata.Json, StringComparison.Ordinal);

        var redacted = await RowAsync(f, tenants["redacted"].TenantId);
        Assert.NotNull(redacted.Prompt);
        Assert.Contains(marker, redacted.Prompt, StringComparison.Ordinal); // the prompt is kept...
        Assert.DoesNotContain(leakedKey, redacted.Json, StringComparison.Ordinal); // ...without the key,
        Assert.DoesNotContain(leakedKey.Split('_')[3], redacted.Json, StringComparison.Ordinal);
        Assert.DoesNotContain(card, redacted.Json, StringComparison.Ordinal); // the card number,
        Assert.DoesNotContain(card.Replace(" ", "", StringComparison.Ordinal), redacted.Json, StringComparison.Ordinal);
        Assert.Contains("[REDACTED:", redacted.Prompt, StringComparison.Ordinal); // and says what it removed.
    }

    [Fact]
    public async Task APromptLongerThanTheRecordLimitIsCutSoTheRecordStillArrives()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/tenants/{f.TenantId}/policy", new { loggingPolicy = "redacted" })).EnsureSuccessStatusCode();
        }

        // 1.5 MB of prompt: larger than the journal's 1 MiB record limit, which would drop the whole record.
        var prompt = string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 60_000));
        using var client = f.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Kit.Chat(prompt))).StatusCode);
        await Kit.WaitUntilAsync(async () => await CountAsync(f, f.TenantId) == 1, "the record of a long prompt never arrived");
        var row = await RowAsync(f, f.TenantId);
        Assert.NotNull(row.Prompt);
        Assert.InRange(row.Prompt.Length, 1000, Records.RequestRecordWriter.MaxPromptChars + 100);
        Assert.EndsWith("[TRUNCATED]", row.Prompt, StringComparison.Ordinal);
    }

    private static Task<long> CountAsync(DataPlaneFixture f, string tenantId) =>
        Kit.ScalarAsync<long>(f.Gateway.DatabaseConnectionString, "SELECT count(*) FROM gateway.request_records WHERE tenant_id = @t", ("t", tenantId));

    private static async Task<(string Json, string? Prompt)> RowAsync(DataPlaneFixture f, string tenantId)
    {
        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT row_to_json(r)::text, r.redacted_prompt FROM gateway.request_records r WHERE tenant_id = @t", db);
        command.Parameters.AddWithValue("t", tenantId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
    }
}

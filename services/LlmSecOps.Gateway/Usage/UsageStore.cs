using Dapper;
using LlmSecOps.Gateway.Database;

namespace LlmSecOps.Gateway.Usage;

/// <summary>One data-plane request's settled usage (what actually happened, after the response completed).</summary>
/// <param name="RequestId">The request id (settling the same id twice counts once).</param>
/// <param name="Timestamp">When the request arrived (UTC); decides its day and month.</param>
/// <param name="TenantId">Tenant.</param>
/// <param name="KeyId">Key id (null when the request never authenticated).</param>
/// <param name="Endpoint">Canonical route, e.g. <c>POST /v1/chat/completions</c>.</param>
/// <param name="Model">Canonical model, if any.</param>
/// <param name="Outcome">An outcome of the event schema (<c>ok</c>, <c>budget_exhausted</c>, ...).</param>
/// <param name="PromptTokens">Input tokens actually used.</param>
/// <param name="CompletionTokens">Output tokens actually produced.</param>
public sealed record UsageRecord(string RequestId, DateTime Timestamp, string TenantId, string? KeyId, string Endpoint, string? Model,
    string Outcome, long PromptTokens, long CompletionTokens);

/// <summary>
/// Settled usage in Postgres: the data plane calls <see cref="SettleAsync"/> (or <see cref="SettleManyAsync"/> from
/// its batching writer) when a request completes; usage reports and the rebuild of Redis budget counters read it.
/// </summary>
public sealed class UsageStore(GatewayDatabase database)
{
    /// <summary>Records one request's usage; idempotent per request id. Returns false when it was already settled.</summary>
    public async Task<bool> SettleAsync(UsageRecord record, CancellationToken cancellationToken) =>
        await SettleManyAsync([record], cancellationToken) == 1;

    /// <summary>Records a batch in one statement; returns how many were new.</summary>
    public async Task<int> SettleManyAsync(IReadOnlyList<UsageRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return 0;
        }

        foreach (var r in records)
        {
            if (r.PromptTokens < 0 || r.CompletionTokens < 0)
            {
                throw new ArgumentException($"Usage of request {r.RequestId} has negative token counts.", nameof(records));
            }
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO usage (request_id, ts, tenant_id, key_id, endpoint, model, outcome, prompt_tokens, completion_tokens)
            SELECT * FROM unnest(@ids, @ts, @tenants, @keys, @endpoints, @models, @outcomes, @prompt, @completion)
            ON CONFLICT (request_id) DO NOTHING
            """,
            new
            {
                ids = records.Select(r => r.RequestId).ToArray(),
                ts = records.Select(r => DateTime.SpecifyKind(r.Timestamp, DateTimeKind.Utc)).ToArray(),
                tenants = records.Select(r => r.TenantId).ToArray(),
                keys = records.Select(r => r.KeyId).ToArray(),
                endpoints = records.Select(r => r.Endpoint).ToArray(),
                models = records.Select(r => r.Model).ToArray(),
                outcomes = records.Select(r => r.Outcome).ToArray(),
                prompt = records.Select(r => r.PromptTokens).ToArray(),
                completion = records.Select(r => r.CompletionTokens).ToArray(),
            }, cancellationToken: cancellationToken));
    }

    /// <summary>Tokens settled for a key or tenant in [from, to) (budget counters are rebuilt from this after a Redis restart).</summary>
    public async Task<long> TokensAsync(string? tenantId, string? keyId, DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM usage
            WHERE ts >= @from AND ts < @to AND (@tenantId::text IS NULL OR tenant_id = @tenantId) AND (@keyId::text IS NULL OR key_id = @keyId)
            """, new { tenantId, keyId, from = DateTime.SpecifyKind(from, DateTimeKind.Utc), to = DateTime.SpecifyKind(to, DateTimeKind.Utc) },
            cancellationToken: cancellationToken));
    }

    /// <summary>Per tenant, key and outcome: requests and tokens in [from, to).</summary>
    internal async Task<IReadOnlyList<UsageGroup>> GroupsAsync(string? tenantId, string? keyId, DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<UsageGroup>(new CommandDefinition(
            """
            SELECT tenant_id, key_id, outcome, count(*) AS requests, COALESCE(SUM(prompt_tokens), 0)::bigint AS prompt_tokens,
                   COALESCE(SUM(completion_tokens), 0)::bigint AS completion_tokens
            FROM usage
            WHERE ts >= @from AND ts < @to AND (@tenantId::text IS NULL OR tenant_id = @tenantId) AND (@keyId::text IS NULL OR key_id = @keyId)
            GROUP BY tenant_id, key_id, outcome
            ORDER BY tenant_id, key_id, outcome
            """, new { tenantId, keyId, from = DateTime.SpecifyKind(from, DateTimeKind.Utc), to = DateTime.SpecifyKind(to, DateTimeKind.Utc) },
            cancellationToken: cancellationToken));
        return rows.AsList();
    }
}

internal sealed class UsageGroup
{
    public string TenantId { get; set; } = "";
    public string? KeyId { get; set; }
    public string Outcome { get; set; } = "";
    public long Requests { get; set; }
    public long PromptTokens { get; set; }
    public long CompletionTokens { get; set; }
}

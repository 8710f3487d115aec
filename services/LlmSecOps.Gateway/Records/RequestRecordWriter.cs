using System.Text.Json.Serialization;
using Dapper;
using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Events;
using LlmSecOps.Gateway.Tenants;
using Npgsql;

namespace LlmSecOps.Gateway.Records;

/// <summary>One row of <c>request_records</c>.</summary>
public sealed record RequestRecord(string RequestId, DateTime Ts, string? TenantId, string? KeyId, string? ClaimedKeyId, string Endpoint, string? Model,
    int Status, string Outcome, long PromptTokens, long CompletionTokens, long? MaxTokensEffective, string? FinishReason, bool Stream, long LatencyMs,
    string? ClientIp, string? Country, string? RedactedPrompt, string? GuardFlags = null);

/// <summary>Source-generated JSON for the journal.</summary>
[JsonSerializable(typeof(RequestRecord))]
internal sealed partial class RequestRecordJsonContext : JsonSerializerContext;

/// <summary>
/// Inserts batches of request records (idempotent on <c>request_id</c>, so a replayed journal counts once), skipping
/// records of a tenant erased after they were made (<c>request_record_erasures</c>). Each batch holds the erasure lock
/// shared, so an erasure waits for batches in flight and no batch straddles it.
/// </summary>
internal sealed class PostgresRecordSink(GatewayDatabase database) : IBatchSink<RequestRecord>
{
    public async Task WriteAsync(IReadOnlyList<RequestRecord> batch, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock_shared(@key)", new { key = RequestRecordEraser.LockKey }, transaction,
            cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO request_records (request_id, ts, tenant_id, key_id, claimed_key_id, endpoint, model, status, outcome, prompt_tokens,
                completion_tokens, max_tokens_effective, finish_reason, stream, latency_ms, client_ip, country, redacted_prompt, guard_flags)
            SELECT r.* FROM unnest(@ids, @ts, @tenants, @keys, @claimed, @endpoints, @models, @statuses, @outcomes, @prompt, @completion,
                @maxTokens::bigint[], @finish, @stream, @latency, @ips, @countries, @prompts, @guardFlags)
                AS r(request_id, ts, tenant_id, key_id, claimed_key_id, endpoint, model, status, outcome, prompt_tokens, completion_tokens,
                     max_tokens_effective, finish_reason, stream, latency_ms, client_ip, country, redacted_prompt, guard_flags)
            WHERE NOT EXISTS (SELECT 1 FROM request_record_erasures e WHERE e.tenant_id = r.tenant_id AND r.ts <= e.erased_at)
            ON CONFLICT (request_id) DO NOTHING
            """,
            new
            {
                ids = batch.Select(r => r.RequestId).ToArray(),
                ts = batch.Select(r => DateTime.SpecifyKind(r.Ts, DateTimeKind.Utc)).ToArray(),
                tenants = batch.Select(r => r.TenantId).ToArray(),
                keys = batch.Select(r => r.KeyId).ToArray(),
                claimed = batch.Select(r => r.ClaimedKeyId).ToArray(),
                endpoints = batch.Select(r => r.Endpoint).ToArray(),
                models = batch.Select(r => r.Model).ToArray(),
                statuses = batch.Select(r => r.Status).ToArray(),
                outcomes = batch.Select(r => r.Outcome).ToArray(),
                prompt = batch.Select(r => r.PromptTokens).ToArray(),
                completion = batch.Select(r => r.CompletionTokens).ToArray(),
                maxTokens = batch.Select(r => r.MaxTokensEffective).ToArray(),
                finish = batch.Select(r => r.FinishReason).ToArray(),
                stream = batch.Select(r => r.Stream).ToArray(),
                latency = batch.Select(r => r.LatencyMs).ToArray(),
                ips = batch.Select(r => r.ClientIp).ToArray(),
                countries = batch.Select(r => r.Country).ToArray(),
                prompts = batch.Select(r => r.RedactedPrompt).ToArray(),
                guardFlags = batch.Select(r => r.GuardFlags).ToArray(),
            }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
    }
}

/// <summary>
/// Erases a tenant's request records (GDPR), registered with the control plane's tenant erasure
/// (<c>DELETE /admin/tenants/{tenantId}/records</c>, admin only, audited there). Besides deleting the rows (prompt text
/// included) it leaves a tombstone, so records of the tenant made before the erasure that are still queued or journaled
/// on some replica are dropped when they reach Postgres. Request records only: the usage table is billing data.
/// </summary>
internal sealed class RequestRecordEraser : ITenantRecordEraser
{
    /// <summary>Advisory lock: record batches hold it shared, an erasure exclusively (until its transaction ends).</summary>
    public const long LockKey = 0x4C534F_52_4543_31; // "LSO" "R" "EC" "1"

    public string Name => "requestRecords";

    public async Task<long> EraseAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string tenantId, CancellationToken cancellationToken)
    {
        // Exclusive: waits for record batches in flight (their rows are then visible to the DELETE below) and holds new
        // ones back until this transaction commits (they then see the tombstone).
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@key)", new { key = LockKey }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO request_record_erasures (tenant_id, erased_at) VALUES (@tenantId, now())
            ON CONFLICT (tenant_id) DO UPDATE SET erased_at = excluded.erased_at
            """, new { tenantId }, transaction, cancellationToken: cancellationToken));
        return await connection.ExecuteAsync(new CommandDefinition("DELETE FROM request_records WHERE tenant_id = @tenantId", new { tenantId }, transaction,
            cancellationToken: cancellationToken));
    }
}

/// <summary>Turns request outcomes into records per the tenant's logging policy and writes them through a durable batch writer.</summary>
internal sealed class RequestRecordWriter(DurableBatchWriter<RequestRecord> writer) : IAsyncDisposable
{
    /// <summary>
    /// Longest prompt text kept under the <c>redacted</c> policy, in characters (the request body may be 8 MiB; a
    /// record must stay far below the journal's 1 MiB record limit even with JSON escaping). Longer text is cut.
    /// </summary>
    public const int MaxPromptChars = 64 * 1024;

    public bool CanAccept => writer.CanAccept;

    public void Publish(RequestOutcome o)
    {
        if (o.LoggingPolicy == "none")
        {
            return;
        }

        writer.TryEnqueue(new RequestRecord(o.RequestId, o.Ts.UtcDateTime, o.TenantId, o.KeyId, o.KeyId is null && o.ClaimedKeyId.Length > 0 ? o.ClaimedKeyId : null,
            o.Endpoint, o.Model, o.Status, o.Outcome ?? "", o.PromptTokens, o.CompletionTokens, o.MaxTokensEffective, o.FinishReason, o.Stream, o.LatencyMs,
            o.ClientIp, o.Country, o.LoggingPolicy == "redacted" ? Bounded(o.RedactedPrompt) : null, o.GuardFlags));
    }

    private static string? Bounded(string? prompt) =>
        prompt is { Length: > MaxPromptChars } ? string.Concat(prompt.AsSpan(0, MaxPromptChars), "[TRUNCATED]") : prompt;

    public ValueTask DisposeAsync() => writer.DisposeAsync();

    /// <summary>Opens the record journal and writer.</summary>
    public static RequestRecordWriter Create(GatewayDatabase database, string journalDirectory, long journalBytes, ILoggerFactory loggers)
    {
        var journal = RecordJournal.Open(new JournalOptions { Directory = journalDirectory, MaxTotalBytes = journalBytes, SegmentBytes = Math.Min(journalBytes, 16L * 1024 * 1024) },
            loggers.CreateLogger("LlmSecOps.Gateway.Records.Journal"));
        return new RequestRecordWriter(new DurableBatchWriter<RequestRecord>(new PostgresRecordSink(database),
            new JsonRecordSerializer<RequestRecord>(RequestRecordJsonContext.Default.RequestRecord), journal,
            new DurableBatchWriterOptions { Name = "request-records", OwnsJournal = true }, loggers.CreateLogger("LlmSecOps.Gateway.Records")));
    }
}

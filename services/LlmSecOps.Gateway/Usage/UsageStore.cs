using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Serialization;
using Dapper;
using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;
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
    string Outcome, long PromptTokens, long CompletionTokens)
{
    /// <summary>True while this process counts the record in <see cref="UsageStore"/>'s not-yet-written tokens (never journalled).</summary>
    internal bool CountedAsPending { get; init; }
}

/// <summary>Source-generated JSON for the usage journal.</summary>
[JsonSerializable(typeof(UsageRecord))]
internal sealed partial class UsageRecordJsonContext : JsonSerializerContext;

/// <summary>
/// Settled usage in Postgres: the data plane hands each finished request to <see cref="Enqueue"/> (a durable batch
/// writer writes it off the request path: group commits while a write is in flight, spilled to an on-disk journal while
/// Postgres is down, idempotent per request id); usage reports and the rebuild of Redis budget counters read it.
/// <see cref="SettleAsync"/> and <see cref="SettleManyAsync"/> write at once (administrative imports, tests).
/// </summary>
/// <remarks>
/// Budgets stay exact although rows arrive a little after their requests: the live counters are in Redis, and when
/// Redis lost a counter <see cref="TokensAsync"/> (what it is re-seeded from) adds the tokens this replica has settled but
/// not yet written. Records spilled to the journal stay counted as pending until the process restarts (a re-seed in that
/// window counts them twice: stricter, never looser). A replica killed with records still in memory loses those rows
/// (its Redis counters already hold them; only a later loss of those counters would forget them).
/// </remarks>
public sealed class UsageStore(GatewayDatabase database, IConfiguration configuration, IHostEnvironment environment, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<PendingKey, long> _pending = new();
    private readonly Lock _writerLock = new();
    private DurableBatchWriter<UsageRecord>? _writer;
    private RecordJournal? _journal;
    private bool _disposed;

    /// <summary>False when a new request's usage could not be kept (Postgres down and the journal full): answer 503 then.</summary>
    public bool CanAccept => Writer().CanAccept;

    /// <summary>Queues one finished request's usage for writing (no I/O on the caller's path). False when it could not be kept.</summary>
    public bool Enqueue(UsageRecord record)
    {
        ValidateTokens(record);
        var pending = record with { CountedAsPending = true };
        AddPending(pending, +1);
        if (Writer().TryEnqueue(pending))
        {
            return true;
        }

        AddPending(pending, -1);
        return false;
    }

    /// <summary>Records one request's usage now; idempotent per request id. Returns false when it was already settled.</summary>
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
            ValidateTokens(r);
        }

        var ids = new string[records.Count];
        var ts = new DateTime[records.Count];
        var tenants = new string[records.Count];
        var keys = new string?[records.Count];
        var endpoints = new string[records.Count];
        var models = new string?[records.Count];
        var outcomes = new string[records.Count];
        var prompt = new long[records.Count];
        var completion = new long[records.Count];
        for (var i = 0; i < records.Count; i++)
        {
            var r = records[i];
            (ids[i], ts[i], tenants[i], keys[i], endpoints[i], models[i], outcomes[i], prompt[i], completion[i]) =
                (r.RequestId, DateTime.SpecifyKind(r.Timestamp, DateTimeKind.Utc), r.TenantId, r.KeyId, r.Endpoint, r.Model, r.Outcome, r.PromptTokens, r.CompletionTokens);
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO usage (request_id, ts, tenant_id, key_id, endpoint, model, outcome, prompt_tokens, completion_tokens)
            SELECT * FROM unnest(@ids, @ts, @tenants, @keys, @endpoints, @models, @outcomes, @prompt, @completion)
            ON CONFLICT (request_id) DO NOTHING
            """,
            new { ids, ts, tenants, keys, endpoints, models, outcomes, prompt, completion }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Tokens settled for a key or tenant in [from, to) (budget counters are rebuilt from this after a Redis restart):
    /// the rows in Postgres plus what this replica settled and has not written yet (by UTC day).
    /// </summary>
    public async Task<long> TokensAsync(string? tenantId, string? keyId, DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var written = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM usage
            WHERE ts >= @from AND ts < @to AND (@tenantId::text IS NULL OR tenant_id = @tenantId) AND (@keyId::text IS NULL OR key_id = @keyId)
            """, new { tenantId, keyId, from = DateTime.SpecifyKind(from, DateTimeKind.Utc), to = DateTime.SpecifyKind(to, DateTimeKind.Utc) },
            cancellationToken: cancellationToken));
        return written + PendingTokens(tenantId, keyId, from, to);
    }

    /// <summary>Tokens this replica settled but has not written to Postgres yet, for a key (or tenant) and days in [from, to).</summary>
    internal long PendingTokens(string? tenantId, string? keyId, DateTime from, DateTime to)
    {
        var (byKey, id) = keyId is not null ? (true, keyId) : (false, tenantId);
        var first = DateOnly.FromDateTime(from);
        long sum = 0;
        foreach (var (key, tokens) in _pending)
        {
            if (key.ByKey == byKey && (id is null || key.Id == id) && key.Day >= first && key.Day.ToDateTime(TimeOnly.MinValue) < to)
            {
                sum += tokens;
            }
        }

        return sum;
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

    /// <summary>Flushes queued usage (to Postgres, or to the journal when it is down) and closes the journal.</summary>
    public async ValueTask DisposeAsync()
    {
        DurableBatchWriter<UsageRecord>? writer;
        lock (_writerLock)
        {
            _disposed = true;
            writer = _writer;
        }

        if (writer is not null)
        {
            await writer.DisposeAsync();
            _journal!.Dispose();
        }
    }

    private static void ValidateTokens(UsageRecord r)
    {
        if (r.PromptTokens < 0 || r.CompletionTokens < 0)
        {
            throw new ArgumentException($"Usage of request {r.RequestId} has negative token counts.", nameof(r));
        }
    }

    internal void AddPending(UsageRecord record, int sign)
    {
        var tokens = sign * (record.PromptTokens + record.CompletionTokens);
        var day = DateOnly.FromDateTime(record.Timestamp);
        Add(new PendingKey(false, record.TenantId, day), tokens);
        if (record.KeyId is not null)
        {
            Add(new PendingKey(true, record.KeyId, day), tokens);
        }

        void Add(PendingKey key, long delta)
        {
            if (_pending.AddOrUpdate(key, delta, (_, v) => v + delta) == 0)
            {
                // Removed only while still zero (atomic compare-and-remove), so the map holds only keys with writes in flight.
                _pending.TryRemove(new KeyValuePair<PendingKey, long>(key, 0));
            }
        }
    }

    /// <summary>The batch writer, opened on first use (a control plane that serves no data plane never opens its journal).</summary>
    private DurableBatchWriter<UsageRecord> Writer()
    {
        if (Volatile.Read(ref _writer) is { } writer)
        {
            return writer;
        }

        lock (_writerLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_writer is null)
            {
                // Same settings as the event and record journals (DataPlane:JournalDirectory, DataPlane:JournalMaxBytes).
                var root = configuration["DataPlane:JournalDirectory"] is { Length: > 0 } dir ? dir : Path.Combine(environment.ContentRootPath, "data", "journal");
                var bytes = long.TryParse(configuration["DataPlane:JournalMaxBytes"], NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b : 256L * 1024 * 1024;
                _journal = RecordJournal.Open(new JournalOptions { Directory = Path.Combine(root, "usage"), MaxTotalBytes = bytes, SegmentBytes = Math.Min(bytes, 16L * 1024 * 1024) },
                    loggers.CreateLogger("LlmSecOps.Gateway.Usage.Journal"));
                // MaxBatchDelay 20 ms: a batch is written at most 20 ms after its first record, with whatever queued meanwhile
                // (group commit), so rows land within milliseconds and a busy gateway writes few, large batches.
                Volatile.Write(ref _writer, new DurableBatchWriter<UsageRecord>(new Sink(this),
                    new JsonRecordSerializer<UsageRecord>(UsageRecordJsonContext.Default.UsageRecord), _journal,
                    new DurableBatchWriterOptions { Name = "usage", MaxBatchDelay = TimeSpan.FromMilliseconds(20) }, loggers.CreateLogger("LlmSecOps.Gateway.Usage")));
            }

            return _writer!;
        }
    }

    private readonly record struct PendingKey(bool ByKey, string Id, DateOnly Day);

    /// <summary>Writes batches (idempotent on request id, so a replayed journal counts once) and forgets their pending tokens.</summary>
    private sealed class Sink(UsageStore store) : IBatchSink<UsageRecord>
    {
        public async Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
        {
            await store.SettleManyAsync(batch, cancellationToken);
            foreach (var record in batch)
            {
                if (record.CountedAsPending)
                {
                    store.AddPending(record, -1);
                }
            }
        }
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

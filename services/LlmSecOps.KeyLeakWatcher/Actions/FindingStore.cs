using System.Collections.Concurrent;
using System.Text.Json;
using LlmSecOps.KeyLeakWatcher.Scanning;
using Npgsql;

namespace LlmSecOps.KeyLeakWatcher.Actions;

/// <summary>Outcome of handling a finding.</summary>
public enum FindingOutcome
{
    /// <summary>Not acted on yet.</summary>
    Pending,

    /// <summary>The key was active and has been revoked now.</summary>
    Revoked,

    /// <summary>The control plane already had the key revoked (or expired).</summary>
    AlreadyRevoked,

    /// <summary>A valid-checksum key the control plane does not know (another deployment's, or a made-up one).</summary>
    Unknown,

    /// <summary>The control plane could not be asked; retried later.</summary>
    Error,

    /// <summary>Recorded only (report-only mode).</summary>
    Recorded,
}

/// <summary>Where findings and their outcomes are remembered, so the same finding acts once.</summary>
public interface IFindingStore
{
    /// <summary>
    /// Records a sighting and claims the finding for acting. Returns null when it must not be acted on now (already
    /// acted on — the earlier outcome is in <paramref name="previous"/> — or being acted on elsewhere).
    /// </summary>
    Task<long?> RecordAndClaimAsync(Finding finding, CancellationToken cancellationToken, Action<FindingOutcome>? previous = null);

    /// <summary>Stores the outcome of acting on a claimed finding.</summary>
    Task CompleteAsync(long id, FindingOutcome outcome, KeyStatus? status, string? detail, CancellationToken cancellationToken);
}

/// <summary>Findings in Postgres, schema <c>watcher</c> (shared by every replica; survives restarts).</summary>
public sealed class PostgresFindingStore(NpgsqlDataSource dataSource) : IFindingStore
{
    /// <summary>A claim older than this is considered abandoned (the replica died) and may be taken over.</summary>
    private static readonly TimeSpan ClaimTimeout = TimeSpan.FromMinutes(2);

    /// <inheritdoc />
    public async Task<long?> RecordAndClaimAsync(Finding finding, CancellationToken cancellationToken, Action<FindingOutcome>? previous = null)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var upsert = new NpgsqlCommand(
            """
            INSERT INTO watcher.findings (token_hash, key_id, source_kind, location, context)
            VALUES (@hash, @key_id, @kind, @location, @context::jsonb)
            ON CONFLICT ON CONSTRAINT findings_once
            DO UPDATE SET last_seen_at = now(), times_seen = watcher.findings.times_seen + 1
            RETURNING id, outcome
            """,
            connection);
        upsert.Parameters.AddWithValue("hash", finding.TokenHash);
        upsert.Parameters.AddWithValue("key_id", finding.KeyId);
        upsert.Parameters.AddWithValue("kind", finding.SourceKind);
        upsert.Parameters.AddWithValue("location", finding.Location);
        upsert.Parameters.AddWithValue("context", JsonSerializer.Serialize(finding.Context));
        long id;
        string outcome;
        await using (var reader = await upsert.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            id = reader.GetInt64(0);
            outcome = reader.GetString(1);
        }

        await using var claim = new NpgsqlCommand(
            """
            UPDATE watcher.findings SET outcome = 'acting', acted_at = now()
            WHERE id = @id AND (outcome IN ('pending', 'error') OR (outcome = 'acting' AND acted_at < now() - @timeout))
            RETURNING id
            """,
            connection);
        claim.Parameters.AddWithValue("id", id);
        claim.Parameters.AddWithValue("timeout", ClaimTimeout);
        var claimed = await claim.ExecuteScalarAsync(cancellationToken);
        if (claimed is null)
        {
            previous?.Invoke(ParseOutcome(outcome));
            return null;
        }

        return id;
    }

    /// <inheritdoc />
    public async Task CompleteAsync(long id, FindingOutcome outcome, KeyStatus? status, string? detail, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            UPDATE watcher.findings
            SET outcome = @outcome, acted_at = now(), detail = @detail,
                control_plane_key_id = coalesce(@key, control_plane_key_id), tenant_id = coalesce(@tenant, tenant_id)
            WHERE id = @id
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("outcome", FormatOutcome(outcome));
        command.Parameters.AddWithValue("detail", (object?)detail ?? DBNull.Value);
        command.Parameters.AddWithValue("key", (object?)status?.KeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("tenant", (object?)status?.TenantId ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The database spelling of an outcome.</summary>
    public static string FormatOutcome(FindingOutcome outcome) => outcome switch
    {
        FindingOutcome.Revoked => "revoked",
        FindingOutcome.AlreadyRevoked => "already_revoked",
        FindingOutcome.Unknown => "unknown",
        FindingOutcome.Error => "error",
        FindingOutcome.Recorded => "recorded",
        _ => "pending",
    };

    private static FindingOutcome ParseOutcome(string outcome) => outcome switch
    {
        "revoked" => FindingOutcome.Revoked,
        "already_revoked" => FindingOutcome.AlreadyRevoked,
        "unknown" => FindingOutcome.Unknown,
        "error" => FindingOutcome.Error,
        "recorded" => FindingOutcome.Recorded,
        _ => FindingOutcome.Pending,
    };
}

/// <summary>Findings remembered for one process (the CLI without a database): the same finding still acts once per run.</summary>
public sealed class InMemoryFindingStore : IFindingStore
{
    private readonly ConcurrentDictionary<(string, string), long> _ids = new();
    private readonly ConcurrentDictionary<long, FindingOutcome> _outcomes = new();
    private long _next;

    /// <inheritdoc />
    public Task<long?> RecordAndClaimAsync(Finding finding, CancellationToken cancellationToken, Action<FindingOutcome>? previous = null)
    {
        var created = false;
        var id = _ids.GetOrAdd((finding.TokenHash, finding.Location), _ =>
        {
            created = true;
            return Interlocked.Increment(ref _next);
        });
        if (created)
        {
            _outcomes[id] = FindingOutcome.Pending;
            return Task.FromResult<long?>(id);
        }

        var outcome = _outcomes.GetValueOrDefault(id);
        if (outcome == FindingOutcome.Error && _outcomes.TryUpdate(id, FindingOutcome.Pending, FindingOutcome.Error))
        {
            return Task.FromResult<long?>(id);
        }

        previous?.Invoke(outcome);
        return Task.FromResult<long?>(null);
    }

    /// <inheritdoc />
    public Task CompleteAsync(long id, FindingOutcome outcome, KeyStatus? status, string? detail, CancellationToken cancellationToken)
    {
        _outcomes[id] = outcome;
        return Task.CompletedTask;
    }
}

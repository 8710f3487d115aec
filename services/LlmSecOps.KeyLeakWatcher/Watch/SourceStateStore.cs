using LlmSecOps.KeyLeakWatcher.Scanning;
using Npgsql;

namespace LlmSecOps.KeyLeakWatcher.Watch;

/// <summary>What each watched source has already been scanned up to (last commits, versions, image digests).</summary>
public sealed class SourceStateStore(NpgsqlDataSource dataSource)
{
    /// <summary>The remembered state, or null for a source never scanned.</summary>
    public async Task<string?> GetAsync(string sourceId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT state FROM watcher.source_state WHERE source_id = @id");
        command.Parameters.AddWithValue("id", sourceId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>Saves a round's result; with an <paramref name="error"/> the stored state is left as it was.</summary>
    public async Task SaveAsync(string sourceId, string kind, string target, string? state, string? error, ScanSession? session, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(
            """
            INSERT INTO watcher.source_state (source_id, kind, target, state, last_scan_at, last_error, bytes_scanned)
            VALUES (@id, @kind, @target, @state, now(), @error, @bytes)
            ON CONFLICT (source_id) DO UPDATE SET
                state = CASE WHEN @error IS NULL THEN EXCLUDED.state ELSE watcher.source_state.state END,
                last_scan_at = now(), last_error = @error,
                bytes_scanned = watcher.source_state.bytes_scanned + EXCLUDED.bytes_scanned
            """,
            connection,
            transaction))
        {
            command.Parameters.AddWithValue("id", sourceId);
            command.Parameters.AddWithValue("kind", kind);
            command.Parameters.AddWithValue("target", target);
            command.Parameters.AddWithValue("state", (object?)state ?? DBNull.Value);
            command.Parameters.Add(new NpgsqlParameter<string?>("error", NpgsqlTypes.NpgsqlDbType.Text) { TypedValue = error });
            command.Parameters.AddWithValue("bytes", session?.BytesScanned ?? 0);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var item in session?.NotScannedItems ?? [])
        {
            await using var command = new NpgsqlCommand(
                "INSERT INTO watcher.not_scanned (source_id, location, reason) VALUES (@id, @location, @reason) ON CONFLICT ON CONSTRAINT not_scanned_once DO UPDATE SET seen_at = now()",
                connection,
                transaction);
            command.Parameters.AddWithValue("id", sourceId);
            command.Parameters.AddWithValue("location", item.Location);
            command.Parameters.AddWithValue("reason", item.Reason);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}

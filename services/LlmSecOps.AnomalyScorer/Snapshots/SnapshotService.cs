using LlmSecOps.AnomalyScorer.Scoring;
using LlmSecOps.Data.Migrations;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace LlmSecOps.AnomalyScorer.Snapshots;

/// <summary>
/// Restores the scorer's state from Postgres at start-up (registered before the event consumer, so nothing is scored
/// on empty baselines that a snapshot could have filled), then snapshots the keys that changed every
/// <see cref="SnapshotOptions.IntervalSeconds"/> and once more at shutdown (after the consumer has stopped).
/// What changed since the last snapshot is lost in a crash: the consumer acknowledges events after scoring them,
/// so at most one interval of learning is missing after a restart.
/// </summary>
public sealed partial class SnapshotService : IHostedService, IAsyncDisposable
{
    /// <summary>The scorer's own Postgres schema.</summary>
    public const string Schema = "scorer";

    private readonly Scorer _scorer;
    private readonly SnapshotOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<SnapshotService> _logger;
    private readonly NpgsqlDataSource? _dataSource;
    private readonly string? _connectionString;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    /// <summary>Creates the service.</summary>
    public SnapshotService(Scorer scorer, IOptions<SnapshotOptions> options, IConfiguration configuration, TimeProvider time, ILogger<SnapshotService> logger)
    {
        _scorer = scorer;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _connectionString = configuration.GetConnectionString("llmsecops");
        if (_options.Enabled && !string.IsNullOrWhiteSpace(_connectionString))
        {
            _dataSource = NpgsqlDataSource.Create(_connectionString);
        }
    }

    /// <summary>Keys restored at start-up.</summary>
    public int RestoredKeys { get; private set; }

    /// <summary>Keys written by snapshots since start-up.</summary>
    public long SavedKeys { get; private set; }

    /// <summary>When the last snapshot finished, or null.</summary>
    public DateTimeOffset? LastSnapshotAt { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is null)
        {
            LogDisabled(_logger);
            return;
        }

        await MigrationRunner.ApplyAsync(_connectionString!, Schema, typeof(SnapshotService).Assembly, cancellationToken);
        await RestoreAsync(cancellationToken);
        _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        try
        {
            await SnapshotAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            LogSnapshotFailed(_logger, e);
        }
    }

    /// <summary>Writes the keys that changed and the population state now.</summary>
    public async Task SnapshotAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is null)
        {
            return;
        }

        var saved = 0;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        while (true)
        {
            var batch = _scorer.CaptureChangedKeys(_options.BatchSize);
            if (batch.Count == 0)
            {
                break;
            }

            var ids = new string[batch.Count];
            var tenants = new string[batch.Count];
            var times = new DateTime[batch.Count];
            var states = new byte[batch.Count][];
            for (var i = 0; i < batch.Count; i++)
            {
                ids[i] = batch[i].KeyId;
                tenants[i] = batch[i].TenantId;
                times[i] = DateTimeOffset.FromUnixTimeMilliseconds(batch[i].LastEventMs).UtcDateTime;
                states[i] = batch[i].State;
            }

            await using var upsert = new NpgsqlCommand(
                """
                INSERT INTO scorer.key_state (key_id, tenant_id, last_event_at, state, saved_at)
                SELECT k, t, e, s, now() FROM unnest(@ids, @tenants, @times, @states) AS u(k, t, e, s)
                ON CONFLICT (key_id) DO UPDATE SET tenant_id = excluded.tenant_id, last_event_at = excluded.last_event_at,
                    state = excluded.state, saved_at = excluded.saved_at
                """, connection);
            upsert.Parameters.AddWithValue("ids", ids);
            upsert.Parameters.AddWithValue("tenants", tenants);
            upsert.Parameters.Add(new NpgsqlParameter("times", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = times });
            upsert.Parameters.Add(new NpgsqlParameter("states", NpgsqlDbType.Array | NpgsqlDbType.Bytea) { Value = states });
            await upsert.ExecuteNonQueryAsync(cancellationToken);
            saved += batch.Count;
        }

        await using (var population = new NpgsqlCommand(
            """
            INSERT INTO scorer.population (id, state, saved_at) VALUES (1, @state, now())
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at
            """, connection))
        {
            population.Parameters.AddWithValue("state", _scorer.CapturePopulation());
            await population.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var prune = new NpgsqlCommand("DELETE FROM scorer.key_state WHERE last_event_at < @cutoff", connection))
        {
            prune.Parameters.AddWithValue("cutoff", (_time.GetUtcNow() - TimeSpan.FromDays(_options.RetentionDays)).UtcDateTime);
            await prune.ExecuteNonQueryAsync(cancellationToken);
        }

        SavedKeys += saved;
        LastSnapshotAt = _time.GetUtcNow();
        LogSnapshot(_logger, saved);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }
    }

    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource!.OpenConnectionAsync(cancellationToken);
        await using (var population = new NpgsqlCommand("SELECT state FROM scorer.population WHERE id = 1", connection))
        {
            if (await population.ExecuteScalarAsync(cancellationToken) is byte[] state)
            {
                try
                {
                    _scorer.RestorePopulation(state);
                }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
                {
                    LogCorrupt(_logger, "population", e);
                }
            }
        }

        int restored = 0, skipped = 0;
        await using var keys = new NpgsqlCommand("SELECT key_id, tenant_id, state FROM scorer.key_state WHERE last_event_at >= @cutoff", connection);
        keys.Parameters.AddWithValue("cutoff", (_time.GetUtcNow() - TimeSpan.FromDays(_options.RetentionDays)).UtcDateTime);
        await using var reader = await keys.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var keyId = reader.GetString(0);
            try
            {
                _scorer.RestoreKey(keyId, reader.GetString(1), reader.GetFieldValue<byte[]>(2));
                restored++;
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
            {
                // One unreadable row (another format version, corruption) must not stop the rest: that key starts over.
                skipped++;
                LogCorrupt(_logger, keyId, e);
            }
        }

        RestoredKeys = restored;
        LogRestored(_logger, restored, skipped);
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.IntervalSeconds), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await SnapshotAsync(cancellationToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    // Keys captured in a failed batch stay clean until they change again; the next snapshots retry the rest.
                    LogSnapshotFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 5301, Level = LogLevel.Information, Message = "Restored {Restored} key baselines from the snapshot ({Skipped} unreadable, started over).")]
    private static partial void LogRestored(ILogger logger, int restored, int skipped);

    [LoggerMessage(EventId = 5302, Level = LogLevel.Debug, Message = "Snapshot written: {Keys} changed keys.")]
    private static partial void LogSnapshot(ILogger logger, int keys);

    [LoggerMessage(EventId = 5303, Level = LogLevel.Warning, Message = "Snapshot failed; the next one retries.")]
    private static partial void LogSnapshotFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5304, Level = LogLevel.Warning, Message = "Snapshot of {What} is unreadable and was skipped.")]
    private static partial void LogCorrupt(ILogger logger, string what, Exception exception);

    [LoggerMessage(EventId = 5305, Level = LogLevel.Warning, Message = "Snapshots are disabled: baselines are lost on every restart.")]
    private static partial void LogDisabled(ILogger logger);
}

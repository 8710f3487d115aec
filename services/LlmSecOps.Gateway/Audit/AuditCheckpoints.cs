using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Keys;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Audit;

/// <summary>A signed statement "the chain had head <see cref="Hash"/> at row <see cref="Seq"/>".</summary>
public sealed record AuditCheckpoint(long Seq, string Hash, DateTime At, int PepperVersion, string Signature);

/// <summary>
/// Writes the chain head outside the database: a JSON line appended to <see cref="AuditOptions.CheckpointPath"/> and a
/// log line, each signed with HMAC-SHA256 under a key derived from the pepper (which is not in the database). Someone
/// who can rewrite the database cannot produce a matching checkpoint, so deleting the newest rows or rewriting the
/// chain consistently from some row on is detected by <see cref="AuditVerifier"/>.
/// </summary>
public sealed partial class AuditCheckpointer(GatewayDatabase database, KeyHasher hasher, IOptions<AuditOptions> options,
    IHostEnvironment environment, ILogger<AuditCheckpointer> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Releases the gate.</summary>
    public void Dispose() => _gate.Dispose();
    private long _lastSeq = -1;

    /// <summary>The checkpoint file's full path.</summary>
    public string FilePath => Path.GetFullPath(options.Value.CheckpointPath, environment.ContentRootPath);

    /// <summary>Checkpoints the current head when it moved since the last checkpoint; returns it (or null for an empty log).</summary>
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            var head = await connection.QuerySingleOrDefaultAsync<HeadRow>(new CommandDefinition(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", cancellationToken: cancellationToken));
            if (head is null)
            {
                return null;
            }

            var hash = Convert.ToHexStringLower(head.Hash);
            var at = DateTime.UtcNow;
            var checkpoint = new AuditCheckpoint(head.Seq, hash, at, hasher.CurrentVersion, Sign(head.Seq, hash, at, hasher.CurrentVersion));
            if (head.Seq == _lastSeq)
            {
                return checkpoint;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            await File.AppendAllTextAsync(FilePath, JsonSerializer.Serialize(checkpoint, JsonSerializerOptions.Web) + "\n", cancellationToken);
            LogCheckpoint(logger, checkpoint.Seq, checkpoint.Hash, checkpoint.At.ToString("O", CultureInfo.InvariantCulture), checkpoint.PepperVersion, checkpoint.Signature);
            _lastSeq = head.Seq;
            return checkpoint;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Reads every checkpoint of the file; the second list names lines whose signature does not verify.</summary>
    public async Task<(List<AuditCheckpoint> Valid, List<string> Invalid)> ReadAsync(CancellationToken cancellationToken)
    {
        var valid = new List<AuditCheckpoint>();
        var invalid = new List<string>();
        if (!File.Exists(FilePath))
        {
            return (valid, invalid);
        }

        var lineNumber = 0;
        foreach (var line in await File.ReadAllLinesAsync(FilePath, cancellationToken))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            AuditCheckpoint? checkpoint = null;
            try
            {
                checkpoint = JsonSerializer.Deserialize<AuditCheckpoint>(line, JsonSerializerOptions.Web);
            }
            catch (JsonException)
            {
            }

            if (checkpoint is null || !hasher.HasVersion(checkpoint.PepperVersion)
                || !CryptographicOperations.FixedTimeEquals(
                    Encoding.ASCII.GetBytes(Sign(checkpoint.Seq, checkpoint.Hash, checkpoint.At, checkpoint.PepperVersion)),
                    Encoding.ASCII.GetBytes(checkpoint.Signature)))
            {
                invalid.Add($"line {lineNumber}");
                continue;
            }

            valid.Add(checkpoint);
        }

        return (valid, invalid);
    }

    private string Sign(long seq, string hash, DateTime at, int pepperVersion)
    {
        var key = hasher.DeriveSecret("audit-checkpoint", pepperVersion);
        var message = $"{seq}.{hash}.{at.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture)}";
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(message)));
    }

    [LoggerMessage(EventId = 1501, Level = LogLevel.Information,
        Message = "AUDIT-CHECKPOINT seq={Seq} head={Hash} at={At} pepperVersion={PepperVersion} sig={Signature}")]
    private static partial void LogCheckpoint(ILogger logger, long seq, string hash, string at, int pepperVersion, string signature);

    private sealed class HeadRow
    {
        public long Seq { get; set; }
        public byte[] Hash { get; set; } = [];
    }
}

/// <summary>Runs <see cref="AuditCheckpointer"/> every <see cref="AuditOptions.CheckpointInterval"/>.</summary>
internal sealed partial class AuditCheckpointService(AuditCheckpointer checkpointer, IOptions<AuditOptions> options, ILogger<AuditCheckpointService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CheckpointInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await checkpointer.CheckpointAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await checkpointer.CheckpointAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 1502, Level = LogLevel.Error, Message = "Audit checkpoint failed; will retry")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

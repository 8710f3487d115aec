using System.Diagnostics;
using Dapper;
using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Records;

/// <summary>
/// Retention of request records (section <c>Records:Retention</c>). A record is deleted once it is older than its
/// tenant's <c>retentionDays</c> (tenant policy, default 30; 0 = kept only until the next sweep), capped by
/// <see cref="MaxDays"/>; records without a tenant (refused before a key authenticated) or of a tenant that no longer
/// exists use <see cref="DefaultDays"/>.
/// </summary>
public sealed class RecordRetentionOptions
{
    /// <summary>Runs the retention sweep. Default: true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between sweeps. Default: 1 hour (the first sweep runs one minute after start-up, or sooner when this is shorter).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Retention, in days, of records without a tenant or whose tenant is gone. Default: 30.</summary>
    public int DefaultDays { get; set; } = 30;

    /// <summary>Upper bound on any tenant's retention, in days (a site-wide ceiling). Default: none.</summary>
    public int? MaxDays { get; set; }

    /// <summary>Rows deleted per statement (short transactions, short locks). Default: 1,000.</summary>
    public int BatchSize { get; set; } = 1000;
}

/// <summary>Reports every invalid <see cref="RecordRetentionOptions"/> setting at once.</summary>
internal sealed class RecordRetentionOptionsValidator : IValidateOptions<RecordRetentionOptions>
{
    public ValidateOptionsResult Validate(string? name, RecordRetentionOptions options)
    {
        var errors = new List<string>();
        if (options.Interval < TimeSpan.FromSeconds(1) || options.Interval > TimeSpan.FromDays(1))
        {
            errors.Add($"Records:Retention:Interval must be between 00:00:01 and 1.00:00:00 (was {options.Interval}).");
        }

        if (options.DefaultDays is < 1 or > 3650)
        {
            errors.Add($"Records:Retention:DefaultDays must be between 1 and 3650 (was {options.DefaultDays}).");
        }

        if (options.MaxDays is < 1 or > 3650)
        {
            errors.Add($"Records:Retention:MaxDays must be between 1 and 3650, or unset for no ceiling (was {options.MaxDays}).");
        }

        if (options.BatchSize is < 10 or > 100_000)
        {
            errors.Add($"Records:Retention:BatchSize must be between 10 and 100000 (was {options.BatchSize}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Deletes request records past their retention in batches, oldest first, every <see cref="RecordRetentionOptions.Interval"/>.
/// One replica sweeps at a time (a session advisory lock); a failed sweep (Postgres down) is logged and retried at the
/// next interval. Request records are not hash-chained (ARCHITECTURE.md), so deleting them breaks nothing.
/// </summary>
internal sealed partial class RecordRetentionService(GatewayDatabase database, IOptions<RecordRetentionOptions> options, TimeProvider time,
    ILogger<RecordRetentionService> logger) : BackgroundService
{
    /// <summary>Session advisory lock held by the replica that is sweeping.</summary>
    private const long SweepLockKey = 0x4C534F_52_4554_31; // "LSO" "R" "ET" "1"

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            Log.Disabled(logger);
            return;
        }

        try
        {
            var first = settings.Interval < TimeSpan.FromMinutes(1) ? settings.Interval : TimeSpan.FromMinutes(1);
            await Task.Delay(first, time, stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await SweepAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.SweepFailed(logger, e);
                }

                await Task.Delay(settings.Interval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One sweep: deletes every record past its retention, a batch per statement. Returns how many; -1 when another replica is sweeping.</summary>
    public async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var started = Stopwatch.GetTimestamp();
        await using var connection = await database.OpenAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@key)", new { key = SweepLockKey }, cancellationToken: cancellationToken)))
        {
            return -1;
        }

        try
        {
            long total = 0;
            var batches = 0;
            while (true)
            {
                var deleted = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    DELETE FROM request_records WHERE request_id IN (
                        SELECT r.request_id FROM request_records r LEFT JOIN tenants t ON t.id = r.tenant_id
                        WHERE r.ts < now() - make_interval(days => LEAST(COALESCE(t.retention_days, @defaultDays), @maxDays::int))
                        ORDER BY r.ts
                        LIMIT @batchSize)
                    """,
                    new { defaultDays = settings.DefaultDays, maxDays = settings.MaxDays, batchSize = settings.BatchSize },
                    commandTimeout: 300, cancellationToken: cancellationToken));
                total += deleted;
                batches++;
                if (deleted < settings.BatchSize)
                {
                    break;
                }
            }

            if (total > 0)
            {
                Log.Swept(logger, total, batches, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            return total;
        }
        finally
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@key)", new { key = SweepLockKey }, cancellationToken: CancellationToken.None));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "Request record retention is disabled (Records:Retention:Enabled = false): records are kept until erased.")]
        public static partial void Disabled(ILogger logger);

        [LoggerMessage(EventId = 4302, Level = LogLevel.Information, Message = "Retention deleted {Count} request record(s) in {Batches} batch(es), {ElapsedMs} ms.")]
        public static partial void Swept(ILogger logger, long count, int batches, long elapsedMs);

        [LoggerMessage(EventId = 4303, Level = LogLevel.Warning, Message = "Request record retention sweep failed; retrying at the next interval.")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}

/// <summary>Registers the request-record retention sweep.</summary>
internal static class RecordRetentionExtensions
{
    public static IServiceCollection AddRecordRetention(this IServiceCollection services)
    {
        services.AddOptions<RecordRetentionOptions>().BindConfiguration("Records:Retention").ValidateOnStart();
        services.AddSingleton<IValidateOptions<RecordRetentionOptions>, RecordRetentionOptionsValidator>();
        services.AddSingleton<RecordRetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RecordRetentionService>());
        return services;
    }
}

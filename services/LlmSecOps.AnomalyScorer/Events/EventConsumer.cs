using LlmSecOps.AnomalyScorer.Scoring;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Redis;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.Events;

/// <summary>
/// Reads <c>llmsecops:events</c> through a consumer group: this replica's own pending entries first (after a
/// restart), then new ones with XREADGROUP, acknowledging each batch after it is scored; every
/// <see cref="EventConsumerOptions.ClaimIntervalSeconds"/> it takes over entries another replica read but never
/// acknowledged (XAUTOCLAIM), so a crashed consumer loses nothing. Malformed entries are logged and acknowledged
/// (a poison entry must not block the stream).
/// </summary>
public sealed partial class EventConsumer(
    Scorer scorer, IOptions<EventConsumerOptions> options, IConfiguration configuration, TimeProvider time, ILogger<EventConsumer> logger)
    : BackgroundService
{
    private long _consumed;
    private long _malformed;

    /// <summary>Entries scored and acknowledged.</summary>
    public long Consumed => Interlocked.Read(ref _consumed);

    /// <summary>Entries acknowledged without scoring because they were malformed.</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Whether the consumer is connected and reading.</summary>
    public bool Connected { get; private set; }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            return;
        }

        var stream = o.KeyPrefix + RequestEvent.StreamName;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var redis = await RedisConnection.ConnectAsync(configuration.GetConnectionString("redis")!, stoppingToken);
                await redis.XGroupCreateAsync(stream, o.ConsumerGroup, "0", createStream: true);
                Connected = true;
                LogConnected(logger, stream, o.ConsumerGroup, o.ConsumerName);

                // 1. what this consumer read before a restart but never acknowledged
                while (true)
                {
                    var pending = await redis.XReadGroupAsync(o.ConsumerGroup, o.ConsumerName, stream, o.BatchSize, id: "0", cancellationToken: stoppingToken);
                    if (pending.Count == 0 || !await ScoreAndAckAsync(redis, stream, pending))
                    {
                        break;
                    }
                }

                var lastClaim = DateTimeOffset.MinValue;
                var claimStart = "0-0";
                while (!stoppingToken.IsCancellationRequested)
                {
                    // 2. entries a crashed replica left pending
                    if (time.GetUtcNow() - lastClaim >= TimeSpan.FromSeconds(o.ClaimIntervalSeconds))
                    {
                        lastClaim = time.GetUtcNow();
                        do
                        {
                            var claimed = await redis.XAutoClaimAsync(stream, o.ConsumerGroup, o.ConsumerName, TimeSpan.FromSeconds(o.ClaimIdleSeconds), claimStart, o.BatchSize);
                            if (claimed.Entries.Count > 0)
                            {
                                LogReclaimed(logger, claimed.Entries.Count);
                                await ScoreAndAckAsync(redis, stream, claimed.Entries);
                            }

                            claimStart = claimed.NextStartId;
                        }
                        while (claimStart != "0-0");
                    }

                    // 3. new entries
                    var batch = await redis.XReadGroupAsync(o.ConsumerGroup, o.ConsumerName, stream, o.BatchSize,
                        TimeSpan.FromMilliseconds(o.BlockMilliseconds), ">", cancellationToken: stoppingToken);
                    if (batch.Count > 0)
                    {
                        await ScoreAndAckAsync(redis, stream, batch);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Connected = false;
                LogFailed(logger, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(2), time, stoppingToken);
            }
        }

        Connected = false;
    }

    private async Task<bool> ScoreAndAckAsync(RedisConnection redis, string stream, IReadOnlyList<RedisStreamEntry> entries)
    {
        var ids = new string[entries.Count];
        var n = 0;
        foreach (var entry in entries)
        {
            ids[n++] = entry.Id;
            if (entry.Fields.Count == 0)
            {
                continue; // deleted while pending (XAUTOCLAIM reports these)
            }

            if (RequestEventParser.TryParse(entry.Fields, out var e, out var error))
            {
                scorer.Process(e);
                Interlocked.Increment(ref _consumed);
            }
            else
            {
                Interlocked.Increment(ref _malformed);
                LogMalformed(logger, entry.Id, error!);
            }
        }

        await redis.XAckAsync(stream, options.Value.ConsumerGroup, ids.AsSpan(0, n));
        return true;
    }

    [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "Consuming {Stream} as {Group}/{Consumer}")]
    private static partial void LogConnected(ILogger logger, string stream, string group, string consumer);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "Reclaimed {Count} entries another consumer left pending")]
    private static partial void LogReclaimed(ILogger logger, int count);

    [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "Malformed event {EntryId} acknowledged without scoring: {Error}")]
    private static partial void LogMalformed(ILogger logger, string entryId, string error);

    [LoggerMessage(EventId = 5204, Level = LogLevel.Error, Message = "Event consumer failed: {Error}; reconnecting")]
    private static partial void LogFailed(ILogger logger, string error);
}

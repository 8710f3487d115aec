using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LlmSecOps.Redis;

/// <summary>
/// Metrics of the Redis client, on the <see cref="MeterName"/> meter (add it to OpenTelemetry with
/// <c>AddMeter(RedisMetrics.MeterName)</c>). Every measurement carries the tags <c>redis.connection.kind</c>
/// (<c>interactive</c>, <c>blocking</c>, <c>subscriber</c>), <c>server.address</c> and <c>server.port</c>.
/// </summary>
public static class RedisMetrics
{
    /// <summary>The meter's name: <c>LlmSecOps.Redis</c>.</summary>
    public const string MeterName = "LlmSecOps.Redis";

    private static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> ConnectionsLost = Meter.CreateCounter<long>(
        "llmsecops.redis.connections_lost", "{connection}", "Connections to Redis that were lost (and are being re-established).");

    internal static readonly Counter<long> Connects = Meter.CreateCounter<long>(
        "llmsecops.redis.connects", "{connection}", "Connections to Redis established, first connects and reconnects.");

    internal static readonly Counter<long> Timeouts = Meter.CreateCounter<long>(
        "llmsecops.redis.command_timeouts", "{command}", "Commands that got no reply within the command timeout.");

    internal static TagList Tags(RedisConnectionKind kind, RedisOptions options) => new()
    {
        {
            "redis.connection.kind", kind switch
            {
                RedisConnectionKind.Interactive => "interactive",
                RedisConnectionKind.Blocking => "blocking",
                _ => "subscriber",
            }
        },
        { "server.address", options.Host },
        { "server.port", options.Port },
    };
}

using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.Events;

/// <summary>How the scorer reads <c>llmsecops:events</c> (section <c>Events</c>; Redis from <c>ConnectionStrings:redis</c>).</summary>
public sealed class EventConsumerOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Events";

    /// <summary>Whether to consume at all (tests of the management API switch it off). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Consumer group shared by all scorer replicas. Default <c>anomaly-scorer</c>.</summary>
    public string ConsumerGroup { get; set; } = "anomaly-scorer";

    /// <summary>This replica's consumer name. Default <c>{machine}-{pid}</c>.</summary>
    public string ConsumerName { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Entries per XREADGROUP. Default 256.</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>How long one XREADGROUP blocks waiting for entries, in ms. Default 2000.</summary>
    public int BlockMilliseconds { get; set; } = 2000;

    /// <summary>Entries pending this long (a crashed replica's) are reclaimed with XAUTOCLAIM, in s. Default 60.</summary>
    public int ClaimIdleSeconds { get; set; } = 60;

    /// <summary>How often to look for such entries, in s. Default 30.</summary>
    public int ClaimIntervalSeconds { get; set; } = 30;

    /// <summary>Prefix for every Redis key and stream (parallel tests on one Redis). Bound from <c>Redis:KeyPrefix</c>. Default empty.</summary>
    public string KeyPrefix { get; set; } = "";
}

/// <summary>Reports every <see cref="EventConsumerOptions"/> problem at once.</summary>
public sealed class EventConsumerOptionsValidator(IConfiguration configuration) : IValidateOptions<EventConsumerOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, EventConsumerOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled && string.IsNullOrWhiteSpace(configuration.GetConnectionString("redis")))
        {
            errors.Add("ConnectionStrings:redis must be set (host:port[,password=..][,ssl=true]) for the scorer to read llmsecops:events, or set Events:Enabled=false.");
        }

        if (string.IsNullOrWhiteSpace(options.ConsumerGroup) || string.IsNullOrWhiteSpace(options.ConsumerName))
        {
            errors.Add("Events:ConsumerGroup and Events:ConsumerName must not be empty.");
        }

        if (options.BatchSize is < 1 or > 10_000)
        {
            errors.Add("Events:BatchSize must be between 1 and 10000.");
        }

        if (options.BlockMilliseconds is < 1 or > 60_000)
        {
            errors.Add("Events:BlockMilliseconds must be between 1 and 60000.");
        }

        if (options.ClaimIdleSeconds < 1 || options.ClaimIntervalSeconds < 1)
        {
            errors.Add("Events:ClaimIdleSeconds and Events:ClaimIntervalSeconds must be at least 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.Snapshots;

/// <summary>
/// State snapshots (configuration section <c>Snapshots</c>): per-key baselines and population priors are written to
/// Postgres (<c>ConnectionStrings:llmsecops</c>, schema <c>scorer</c>) periodically and at shutdown, and restored at
/// start-up before any event is consumed.
/// </summary>
public sealed class SnapshotOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Snapshots";

    /// <summary>Whether snapshots are taken. Default true; needs <c>ConnectionStrings:llmsecops</c>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Seconds between snapshots of the keys that changed. Default 300.</summary>
    public int IntervalSeconds { get; set; } = 300;

    /// <summary>Keys serialised per batch (the scoring lock is held per batch). Default 2000.</summary>
    public int BatchSize { get; set; } = 2000;

    /// <summary>Snapshots of keys idle longer than this are not restored, and are deleted. Default 35.</summary>
    public int RetentionDays { get; set; } = 35;
}

/// <summary>Reports every invalid <see cref="SnapshotOptions"/> setting at once.</summary>
public sealed class SnapshotOptionsValidator(IConfiguration configuration) : IValidateOptions<SnapshotOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SnapshotOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled && string.IsNullOrWhiteSpace(configuration.GetConnectionString("llmsecops")))
        {
            errors.Add("ConnectionStrings:llmsecops must be set (the scorer keeps its baselines in schema \"scorer\"), or set Snapshots:Enabled=false to start with empty baselines after every restart.");
        }

        if (options.IntervalSeconds is < 1 or > 86_400)
        {
            errors.Add("Snapshots:IntervalSeconds must be between 1 and 86400.");
        }

        if (options.BatchSize is < 1 or > 100_000)
        {
            errors.Add("Snapshots:BatchSize must be between 1 and 100000.");
        }

        if (options.RetentionDays is < 1 or > 3650)
        {
            errors.Add("Snapshots:RetentionDays must be between 1 and 3650.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Audit;

/// <summary>Audit chain checkpoints (section <c>Audit</c>).</summary>
public sealed class AuditOptions
{
    /// <summary>
    /// File the signed checkpoints of the chain head are appended to, outside the database (mount it from storage the
    /// database's administrators cannot rewrite, or ship it with the service log). Default: <c>data/audit-checkpoints.jsonl</c>
    /// under the content root.
    /// </summary>
    public string CheckpointPath { get; set; } = Path.Combine("data", "audit-checkpoints.jsonl");

    /// <summary>How often the chain head is checkpointed (only when it moved). Default: 1 minute.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Reports every problem of <see cref="AuditOptions"/> at once.</summary>
public sealed class AuditOptionsValidator : IValidateOptions<AuditOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.CheckpointPath))
        {
            errors.Add("Audit:CheckpointPath is required: the chain head is checkpointed outside the database.");
        }

        if (options.CheckpointInterval < TimeSpan.FromSeconds(1) || options.CheckpointInterval > TimeSpan.FromDays(1))
        {
            errors.Add("Audit:CheckpointInterval must be between 00:00:01 and 1.00:00:00.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Webhooks;

/// <summary>Owner-notification webhooks (section <c>Webhooks</c>).</summary>
public sealed class WebhookOptions
{
    /// <summary>
    /// Allow webhook URLs that resolve to loopback, link-local, private or other non-public addresses. Default: false
    /// (SSRF protection, CWE-918). Switch on only where receivers really live on an internal network.
    /// </summary>
    public bool AllowPrivateTargets { get; set; }

    /// <summary>Delivery attempts before a notification is marked failed. Default: 10.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Delay before the second attempt; doubles per attempt (with jitter) up to <see cref="MaxBackoff"/>. Default: 5 seconds.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Longest delay between attempts. Default: 1 hour.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the dispatcher looks for due notifications. Default: 2 seconds.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Timeout of one delivery attempt. Default: 10 seconds.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Notifications claimed per poll. Default: 20.</summary>
    public int BatchSize { get; set; } = 20;
}

/// <summary>Reports every problem of <see cref="WebhookOptions"/> at once.</summary>
public sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options)
    {
        var errors = new List<string>();
        if (options.MaxAttempts is < 1 or > 100)
        {
            errors.Add("Webhooks:MaxAttempts must be between 1 and 100.");
        }

        if (options.InitialBackoff <= TimeSpan.Zero || options.MaxBackoff < options.InitialBackoff)
        {
            errors.Add("Webhooks:InitialBackoff must be positive and not above Webhooks:MaxBackoff.");
        }

        if (options.PollInterval <= TimeSpan.Zero)
        {
            errors.Add("Webhooks:PollInterval must be positive.");
        }

        if (options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromMinutes(2))
        {
            errors.Add("Webhooks:Timeout must be between 00:00:00.001 and 00:02:00.");
        }

        if (options.BatchSize is < 1 or > 1000)
        {
            errors.Add("Webhooks:BatchSize must be between 1 and 1000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

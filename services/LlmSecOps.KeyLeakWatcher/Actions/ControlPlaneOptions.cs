using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Actions;

/// <summary>How the watcher reaches the gateway's control plane (section <c>ControlPlane</c>).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>
    /// Admin API base URL. Default: none; <c>services:gateway:admin:0</c> (what Aspire injects) is used when unset.
    /// Required unless <see cref="ReportOnly"/>.
    /// </summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>Service token (role <c>service</c>). Default: none. Required unless <see cref="ReportOnly"/>.</summary>
    public string? Token { get; set; }

    /// <summary>Per-request timeout. Default: 10 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Record findings without looking keys up or revoking them. Default: false — a leak watcher that cannot
    /// revoke must be chosen explicitly, never fallen into by a missing setting.
    /// </summary>
    public bool ReportOnly { get; set; }
}

/// <summary>Reports every problem with <see cref="ControlPlaneOptions"/> at once.</summary>
public sealed class ControlPlaneOptionsValidator : IValidateOptions<ControlPlaneOptions>
{
    public ValidateOptionsResult Validate(string? name, ControlPlaneOptions options)
    {
        if (options.ReportOnly)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new List<string>();
        if (options.BaseUrl is null)
        {
            errors.Add("ControlPlane:BaseUrl is not set (nor services:gateway:admin:0): set ControlPlane__BaseUrl to the gateway admin URL, e.g. http://127.0.0.1:8081, or ControlPlane__ReportOnly=true to only record findings.");
        }
        else if (options.BaseUrl.Scheme is not ("http" or "https"))
        {
            errors.Add($"ControlPlane:BaseUrl '{options.BaseUrl}' must be an http or https URL.");
        }

        if (string.IsNullOrWhiteSpace(options.Token))
        {
            errors.Add("ControlPlane:Token is not set: issue a service token with `POST /admin/tokens {role: \"service\"}` and set ControlPlane__Token.");
        }

        if (options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromMinutes(2))
        {
            errors.Add($"ControlPlane:Timeout {options.Timeout} must be between 0 and 2 minutes.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.ControlPlane;

/// <summary>Where the gateway's admin API is and how the scorer signs in (section <c>ControlPlane</c>).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "ControlPlane";

    /// <summary>Base URL of the admin API; when unset, <c>services__gateway__admin__0</c> (Aspire). Default none.</summary>
    public string? BaseUrl { get; set; }

    /// <summary>The scorer's service bearer token (role <c>service</c>). Never logged. Default none.</summary>
    public string? Token { get; set; }

    /// <summary>Per-request timeout in seconds. Default 10.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>Attempts per decision before it is given up (logged). Default 5.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Decisions waiting to be sent; beyond it new ones are dropped and logged. Default 10,000.</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Fills <see cref="BaseUrl"/> from the Aspire service-discovery variables when it is not set.</summary>
    public static void ResolveBaseUrl(ControlPlaneOptions options, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(options.BaseUrl) && ServiceEndpoints.Resolve(configuration, "gateway", "admin") is { } uri)
        {
            options.BaseUrl = uri.ToString();
        }
    }
}

/// <summary>
/// Reports every <see cref="ControlPlaneOptions"/> problem at once. A control plane is required as soon as any tenant
/// policy may act (flag or revoke): decisions must never be dropped silently for want of a configured endpoint.
/// </summary>
public sealed class ControlPlaneOptionsValidator(IOptions<ScoringOptions> scoring) : IValidateOptions<ControlPlaneOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ControlPlaneOptions options)
    {
        var errors = new List<string>();
        var s = scoring.Value;
        var acts = s.DefaultPolicy != ScoringPolicy.Observe || s.TenantPolicies.Values.Any(p => p != ScoringPolicy.Observe);
        if (acts)
        {
            if (string.IsNullOrWhiteSpace(options.BaseUrl))
            {
                errors.Add("ControlPlane:BaseUrl (or services__gateway__admin__0) must be set: the scorer flags and revokes through the gateway's admin API. Set Scoring:DefaultPolicy=Observe to run without it.");
            }

            if (string.IsNullOrWhiteSpace(options.Token))
            {
                errors.Add("ControlPlane:Token must hold the scorer's service token (POST /admin/tokens {role: \"service\"}).");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.BaseUrl)
            && (!Uri.TryCreate(options.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"ControlPlane:BaseUrl must be an absolute http(s) URL; it is '{options.BaseUrl}'.");
        }

        if (options.TimeoutSeconds is < 1 or > 300)
        {
            errors.Add("ControlPlane:TimeoutSeconds must be between 1 and 300.");
        }

        if (options.MaxAttempts is < 1 or > 100)
        {
            errors.Add("ControlPlane:MaxAttempts must be between 1 and 100.");
        }

        if (options.QueueCapacity < 1)
        {
            errors.Add("ControlPlane:QueueCapacity must be at least 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

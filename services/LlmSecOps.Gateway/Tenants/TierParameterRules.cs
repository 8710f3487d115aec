using LlmSecOps.Gateway.Validation;
using LlmSecOps.Inference.Parameters;

namespace LlmSecOps.Gateway.Tenants;

/// <summary>
/// Validation ranges and defaults of a tier's parameter bounds. The defaults are those of
/// <see cref="TierParameterPolicy"/> (one source of truth for the data plane and the admin API); the migration that
/// added the columns uses the same figures for tiers that existed before it.
/// </summary>
public static class TierParameterRules
{
    /// <summary>Largest <c>maxN</c>.</summary>
    public const int MaxN = 128;

    /// <summary>Largest <c>maxKeepAliveSeconds</c> (a week).</summary>
    public const int MaxKeepAliveSeconds = 604_800;

    /// <summary>Largest <c>maxNumCtx</c> (2 Mi tokens).</summary>
    public const int MaxNumCtx = 2_097_152;

    /// <summary>Largest <c>maxImages</c>.</summary>
    public const int MaxImages = 100;

    /// <summary>Largest <c>maxImageBytes</c> (100 MiB; the data plane's body limit usually binds first).</summary>
    public const long MaxImageBytes = 100L * 1024 * 1024;

    /// <summary>Largest <c>maxTopLogprobs</c> (OpenAI's own maximum is 20).</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>Largest <c>maxLogitBiasEntries</c>.</summary>
    public const int MaxLogitBiasEntries = 1000;

    /// <summary>The bounds a tier gets for every field left out.</summary>
    public static TierParametersResponse Defaults { get; } = FromPolicy(TierParameterPolicy.Default);

    /// <summary>
    /// Validates <paramref name="request"/> (null = all defaults), adding every problem to <paramref name="problems"/>
    /// under <c>parameters.&lt;field&gt;</c>, and returns the bounds with defaults filled in.
    /// </summary>
    public static TierParametersResponse Resolve(TierParametersRequest? request, Problems problems)
    {
        var d = Defaults;
        if (request is null)
        {
            return d;
        }

        Range(problems, request.MaxN, 1, MaxN, "maxN");
        Range(problems, request.MaxKeepAliveSeconds, 0, MaxKeepAliveSeconds, "maxKeepAliveSeconds");
        Range(problems, request.MaxNumCtx, 1, MaxNumCtx, "maxNumCtx");
        Range(problems, request.MaxImages, 0, MaxImages, "maxImages");
        Range(problems, request.MaxImageBytes, 0, MaxImageBytes, "maxImageBytes");
        Range(problems, request.MaxTopLogprobs, 0, MaxTopLogprobs, "maxTopLogprobs");
        Range(problems, request.MaxLogitBiasEntries, 0, MaxLogitBiasEntries, "maxLogitBiasEntries");
        return new TierParametersResponse(
            request.MaxN ?? d.MaxN,
            request.MaxKeepAliveSeconds ?? d.MaxKeepAliveSeconds,
            request.MaxNumCtx ?? d.MaxNumCtx,
            request.AllowHardwareOptions ?? d.AllowHardwareOptions,
            request.AllowRaw ?? d.AllowRaw,
            request.AllowTemplateOverride ?? d.AllowTemplateOverride,
            request.AllowSystemOverride ?? d.AllowSystemOverride,
            request.MaxImages ?? d.MaxImages,
            request.MaxImageBytes ?? d.MaxImageBytes,
            request.AllowRemoteImageUrls ?? d.AllowRemoteImageUrls,
            request.AllowLogprobs ?? d.AllowLogprobs,
            request.MaxTopLogprobs ?? d.MaxTopLogprobs,
            request.AllowLogitBias ?? d.AllowLogitBias,
            request.MaxLogitBiasEntries ?? d.MaxLogitBiasEntries);
    }

    private static TierParametersResponse FromPolicy(TierParameterPolicy p) => new(
        p.MaxN, (int)p.MaxKeepAlive.TotalSeconds, p.MaxNumCtx, p.AllowHardwareOptions, p.AllowRaw, p.AllowTemplateOverride, p.AllowSystemOverride,
        p.MaxImages, p.MaxImageBytes, p.AllowRemoteImageUrls, p.AllowLogprobs, p.MaxTopLogprobs, p.AllowLogitBias, p.MaxLogitBiasEntries);

    private static void Range(Problems problems, long? value, long min, long max, string field) =>
        problems.Check(value is null || (value >= min && value <= max), "parameters." + field, $"Must be between {min} and {max} (leave it out for the default).");
}

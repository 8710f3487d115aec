using LlmSecOps.Inference.Parameters;

namespace LlmSecOps.Gateway.Tenants;

/// <summary>
/// The columns of <c>tiers</c> that the admin API shows and the data plane enforces, read by Dapper into the admin
/// API's row and into the data plane's caller-policy row (each adds what only it reads).
/// </summary>
internal abstract class TierColumns
{
    public string[] AllowedModels { get; set; } = [];
    public int DefaultMaxTokens { get; set; }
    public int MaxMaxTokens { get; set; }
    public string MaxTokensOverCap { get; set; } = "clamp";
    public int RequestsPerMinute { get; set; }
    public int TokensPerMinute { get; set; }
    public int Concurrency { get; set; }
    public int MaxN { get; set; }
    public int MaxKeepAliveSeconds { get; set; }
    public int MaxNumCtx { get; set; }
    public bool AllowHardwareOptions { get; set; }
    public bool AllowRaw { get; set; }
    public bool AllowTemplateOverride { get; set; }
    public bool AllowSystemOverride { get; set; }
    public int MaxImages { get; set; }
    public long MaxImageBytes { get; set; }
    public bool AllowRemoteImageUrls { get; set; }
    public bool AllowLogprobs { get; set; }
    public int MaxTopLogprobs { get; set; }
    public bool AllowLogitBias { get; set; }
    public int MaxLogitBiasEntries { get; set; }

    /// <summary>The parameter policy these columns describe, as the data plane applies it.</summary>
    public TierParameterPolicy ToParameterPolicy() => new()
    {
        DefaultMaxTokens = Math.Max(1, DefaultMaxTokens),
        MaxMaxTokens = Math.Max(1, MaxMaxTokens),
        // Anything but an explicit 'reject' clamps: the table's CHECK allows only the two values.
        MaxTokensExcess = MaxTokensOverCap == "reject" ? ExcessMode.Reject : ExcessMode.Clamp,
        MaxN = MaxN,
        MaxKeepAlive = TimeSpan.FromSeconds(MaxKeepAliveSeconds),
        MaxNumCtx = MaxNumCtx,
        AllowHardwareOptions = AllowHardwareOptions,
        AllowRaw = AllowRaw,
        AllowTemplateOverride = AllowTemplateOverride,
        AllowSystemOverride = AllowSystemOverride,
        MaxImages = MaxImages,
        MaxImageBytes = MaxImageBytes,
        AllowRemoteImageUrls = AllowRemoteImageUrls,
        AllowLogprobs = AllowLogprobs,
        MaxTopLogprobs = MaxTopLogprobs,
        AllowLogitBias = AllowLogitBias,
        MaxLogitBiasEntries = MaxLogitBiasEntries,
    };
}

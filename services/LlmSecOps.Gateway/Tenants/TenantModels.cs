using System.Text.RegularExpressions;

namespace LlmSecOps.Gateway.Tenants;

/// <summary>A tenant as the admin API returns it.</summary>
public sealed record TenantResponse(
    string Id, string Name, string Tier, string Status, TenantPolicyResponse Policy, BudgetResponse Budget, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>A tenant's logging, retention, guard and webhook policy.</summary>
public sealed record TenantPolicyResponse(string LoggingPolicy, int RetentionDays, string GuardPolicy, string? WebhookUrl);

/// <summary>Token budgets (null = none).</summary>
public sealed record BudgetResponse(long? DailyTokens, long? MonthlyTokens);

/// <summary><c>POST /admin/tenants</c>.</summary>
public sealed class CreateTenantRequest
{
    public string? Name { get; set; }
    public string? Tier { get; set; }
}

/// <summary><c>PUT /admin/tenants/{id}/policy</c>: fields left out keep their value; <c>webhookUrl: ""</c> removes the webhook;
/// <c>tier</c> moves the tenant to another (existing) tier.</summary>
public sealed class TenantPolicyRequest
{
    public string? Tier { get; set; }
    public string? LoggingPolicy { get; set; }
    public int? RetentionDays { get; set; }
    public string? GuardPolicy { get; set; }
    public string? WebhookUrl { get; set; }
    public bool RotateWebhookSecret { get; set; }
}

/// <summary><c>PUT .../budget</c>: daily and monthly token budgets; null = no budget.</summary>
public sealed class BudgetRequest
{
    public long? DailyTokens { get; set; }
    public long? MonthlyTokens { get; set; }
}

/// <summary>
/// <c>PUT /admin/tiers/{name}</c>: a whole tier (created or replaced). <c>maxTokensOverCap</c> and every field of
/// <c>parameters</c> are optional: what is left out takes its default (a PUT replaces the whole tier, so leaving a
/// field out of an update resets it to the default, never to the previous value).
/// </summary>
public sealed class TierRequest
{
    public List<string>? AllowedModels { get; set; }
    public int? DefaultMaxTokens { get; set; }
    public int? MaxMaxTokens { get; set; }
    public string? MaxTokensOverCap { get; set; }
    public int? RequestsPerMinute { get; set; }
    public int? TokensPerMinute { get; set; }
    public int? Concurrency { get; set; }
    public TierParametersRequest? Parameters { get; set; }
}

/// <summary>
/// Per-tier bounds on request parameters (issue 4, point 5). Null = the default given in each property's docs; the
/// defaults fail closed (hardware options, <c>raw</c>, <c>template</c>, remote image URLs and <c>logit_bias</c> are
/// refused unless switched on).
/// </summary>
public sealed class TierParametersRequest
{
    /// <summary>Largest OpenAI <c>n</c> / <c>best_of</c>, 1-128. Default 4.</summary>
    public int? MaxN { get; set; }

    /// <summary>Longest Ollama <c>keep_alive</c> in seconds, 0-604,800; longer (or negative = forever) is clamped to it. Default 1,800.</summary>
    public int? MaxKeepAliveSeconds { get; set; }

    /// <summary>Largest Ollama <c>options.num_ctx</c>, 1-2,097,152. Default 8,192.</summary>
    public int? MaxNumCtx { get; set; }

    /// <summary>Allow Ollama load-time hardware options (<c>num_gpu</c>, <c>main_gpu</c>, <c>num_thread</c>...). Default false.</summary>
    public bool? AllowHardwareOptions { get; set; }

    /// <summary>Allow Ollama <c>raw: true</c>. Default false.</summary>
    public bool? AllowRaw { get; set; }

    /// <summary>Allow an Ollama <c>template</c> override. Default false.</summary>
    public bool? AllowTemplateOverride { get; set; }

    /// <summary>Allow an Ollama <c>/api/generate</c> <c>system</c> override. Default true.</summary>
    public bool? AllowSystemOverride { get; set; }

    /// <summary>Most images per request, 0-100. Default 4.</summary>
    public int? MaxImages { get; set; }

    /// <summary>Largest decoded inline image in bytes, 0-104,857,600. Default 5,242,880 (5 MiB).</summary>
    public long? MaxImageBytes { get; set; }

    /// <summary>Allow images by remote URL (the upstream would fetch them). Default false.</summary>
    public bool? AllowRemoteImageUrls { get; set; }

    /// <summary>Allow log probabilities. Default true.</summary>
    public bool? AllowLogprobs { get; set; }

    /// <summary>Largest <c>top_logprobs</c> (or completions <c>logprobs</c> integer), 0-20. Default 5.</summary>
    public int? MaxTopLogprobs { get; set; }

    /// <summary>Allow <c>logit_bias</c>. Default false.</summary>
    public bool? AllowLogitBias { get; set; }

    /// <summary>Most <c>logit_bias</c> entries when allowed, 0-1,000. Default 300.</summary>
    public int? MaxLogitBiasEntries { get; set; }
}

/// <summary>A tier.</summary>
public sealed record TierResponse(string Name, string[] AllowedModels, int DefaultMaxTokens, int MaxMaxTokens, string MaxTokensOverCap,
    int RequestsPerMinute, int TokensPerMinute, int Concurrency, TierParametersResponse Parameters, DateTime UpdatedAt);

/// <summary>A tier's parameter bounds (see <see cref="TierParametersRequest"/> for their meaning).</summary>
public sealed record TierParametersResponse(int MaxN, int MaxKeepAliveSeconds, int MaxNumCtx, bool AllowHardwareOptions, bool AllowRaw,
    bool AllowTemplateOverride, bool AllowSystemOverride, int MaxImages, long MaxImageBytes, bool AllowRemoteImageUrls, bool AllowLogprobs,
    int MaxTopLogprobs, bool AllowLogitBias, int MaxLogitBiasEntries);

/// <summary><c>PUT /admin/models/{name}</c>.</summary>
public sealed class ApproveModelRequest
{
    public string? Digest { get; set; }
}

/// <summary>An approved model pinned to a digest.</summary>
public sealed record ModelResponse(string Name, string Digest, string ApprovedBy, DateTime ApprovedAt);

/// <summary>Validation rules shared by the tenant, tier and model routes.</summary>
public static partial class TenantRules
{
    /// <summary>Largest budget accepted (tokens).</summary>
    public const long MaxBudget = 1_000_000_000_000_000;

    /// <summary>Canonical model name <c>name:tag</c> (<c>:latest</c> implied), lowercase; null when invalid.</summary>
    public static string? CanonicalModel(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200)
        {
            return null;
        }

        var lower = name.Trim().ToLowerInvariant();
        var lastSlash = lower.LastIndexOf('/');
        if (lower.IndexOf(':', lastSlash + 1) < 0)
        {
            lower += ":latest";
        }

        return ModelName().IsMatch(lower) ? lower : null;
    }

    /// <summary>True for a valid tier name.</summary>
    public static bool IsTierName(string? name) => name is not null && TierName().IsMatch(name);

    /// <summary>True for a <c>sha256:&lt;64 hex&gt;</c> digest (lowercase).</summary>
    public static bool IsDigest(string? digest) => digest is not null && Digest().IsMatch(digest);

    /// <summary>Budget rule.</summary>
    public static void CheckBudget(Validation.Problems problems, BudgetRequest request)
    {
        problems.Check(request.DailyTokens is null or (>= 0 and <= MaxBudget), "dailyTokens", $"Must be between 0 and {MaxBudget}, or null for no budget.");
        problems.Check(request.MonthlyTokens is null or (>= 0 and <= MaxBudget), "monthlyTokens", $"Must be between 0 and {MaxBudget}, or null for no budget.");
        problems.Check(request.DailyTokens is null || request.MonthlyTokens is null || request.DailyTokens <= request.MonthlyTokens,
            "dailyTokens", "The daily budget cannot exceed the monthly budget.");
    }

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._\-]*(/[a-z0-9][a-z0-9._\-]*)*:[a-z0-9][a-z0-9._\-]{0,127}$")]
    private static partial Regex ModelName();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9_\-]{0,62}$")]
    private static partial Regex TierName();

    [GeneratedRegex(@"^sha256:[0-9a-f]{64}$")]
    private static partial Regex Digest();
}

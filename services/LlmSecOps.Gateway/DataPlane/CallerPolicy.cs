using System.Collections.Concurrent;
using Dapper;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Inference.Parameters;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>What the data plane needs to know about a key's tenant and tier, read in one query.</summary>
internal sealed record CallerPolicy(
    string Tier,
    string[] AllowedModels,
    int DefaultMaxTokens,
    int MaxMaxTokens,
    int RequestsPerMinute,
    int TokensPerMinute,
    int Concurrency,
    string GuardPolicy,
    string LoggingPolicy,
    long? TenantDailyBudget,
    long? TenantMonthlyBudget,
    long? KeyDailyBudget,
    long? KeyMonthlyBudget)
{
    /// <summary>The tier's parameter bounds (issue 4, points 4 and 5); max_tokens figures are those of this record.</summary>
    public TierParameterPolicy Parameters { get; init; } = TierParameterPolicy.Default;

    /// <summary>True when the tier allows <paramref name="model"/> (canonical name).</summary>
    public bool AllowsModel(string model) => Array.IndexOf(AllowedModels, "*") >= 0 || Array.IndexOf(AllowedModels, model) >= 0;

    /// <summary>
    /// The tier's parameter policy with max_tokens lowered to <paramref name="grantCap"/> (what the budget granted per
    /// completion). A request that asked for more than the budget granted is CLAMPED to the grant whatever the tier's
    /// over-cap mode: the tier's cap was already enforced (or refused) on the first pass, with the tier's own figures.
    /// Returns the shared instance when nothing is lowered, so the common path allocates nothing.
    /// </summary>
    public TierParameterPolicy ParametersFor(int grantCap)
    {
        var tier = Parameters;
        if (grantCap >= tier.MaxMaxTokens)
        {
            return tier;
        }

        var capped = Copy(tier);
        capped.MaxMaxTokens = Math.Max(1, grantCap);
        capped.DefaultMaxTokens = Math.Max(1, Math.Min(tier.DefaultMaxTokens, grantCap));
        capped.MaxTokensExcess = ExcessMode.Clamp;
        return capped;
    }

    internal static TierParameterPolicy Copy(TierParameterPolicy p) => new()
    {
        DefaultMaxTokens = p.DefaultMaxTokens,
        MaxMaxTokens = p.MaxMaxTokens,
        MaxTokensExcess = p.MaxTokensExcess,
        MaxN = p.MaxN,
        MaxNumCtx = p.MaxNumCtx,
        MaxKeepAlive = p.MaxKeepAlive,
        AllowHardwareOptions = p.AllowHardwareOptions,
        AllowRaw = p.AllowRaw,
        AllowTemplateOverride = p.AllowTemplateOverride,
        AllowSystemOverride = p.AllowSystemOverride,
        MaxImages = p.MaxImages,
        MaxImageBytes = p.MaxImageBytes,
        AllowRemoteImageUrls = p.AllowRemoteImageUrls,
        AllowLogprobs = p.AllowLogprobs,
        MaxTopLogprobs = p.MaxTopLogprobs,
        AllowLogitBias = p.AllowLogitBias,
        MaxLogitBiasEntries = p.MaxLogitBiasEntries,
        ForceStreamUsage = p.ForceStreamUsage,
        TokensPerImage = p.TokensPerImage,
        TemplateOverheadTokens = p.TemplateOverheadTokens,
    };
}

/// <summary>
/// Reads <see cref="CallerPolicy"/> and approved model digests from the control plane's tables with a short
/// in-process cache (<see cref="DataPlaneOptions.PolicyCacheTtl"/>), so a request costs no database round trip.
/// </summary>
internal sealed class CallerPolicyStore(GatewayDatabase database, TimeProvider time, Microsoft.Extensions.Options.IOptions<DataPlaneOptions> options)
{
    private readonly ConcurrentDictionary<string, (CallerPolicy? Policy, long Expires)> _policies = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string? Digest, long Expires)> _models = new(StringComparer.Ordinal);

    public async ValueTask<CallerPolicy?> GetAsync(string keyId, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_policies.TryGetValue(keyId, out var cached) && cached.Expires > now)
        {
            return cached.Policy;
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            """
            SELECT t.tier, tr.allowed_models, tr.default_max_tokens, tr.max_max_tokens, tr.requests_per_minute,
                   tr.tokens_per_minute, tr.concurrency, t.guard_policy, t.logging_policy,
                   tr.max_tokens_over_cap, tr.max_n, tr.max_keep_alive_seconds, tr.max_num_ctx, tr.allow_hardware_options, tr.allow_raw,
                   tr.allow_template_override, tr.allow_system_override, tr.max_images, tr.max_image_bytes, tr.allow_remote_image_urls,
                   tr.allow_logprobs, tr.max_top_logprobs, tr.allow_logit_bias, tr.max_logit_bias_entries,
                   t.daily_token_budget AS tenant_daily_budget, t.monthly_token_budget AS tenant_monthly_budget,
                   k.daily_token_budget AS key_daily_budget, k.monthly_token_budget AS key_monthly_budget
            FROM keys k JOIN tenants t ON t.id = k.tenant_id JOIN tiers tr ON tr.name = t.tier
            WHERE k.id = @keyId
            """, new { keyId }, cancellationToken: cancellationToken));
        var policy = row is null ? null : new CallerPolicy(row.Tier, row.AllowedModels, row.DefaultMaxTokens, row.MaxMaxTokens,
            row.RequestsPerMinute, row.TokensPerMinute, row.Concurrency, row.GuardPolicy, row.LoggingPolicy,
            row.TenantDailyBudget, row.TenantMonthlyBudget, row.KeyDailyBudget, row.KeyMonthlyBudget)
        {
            Parameters = row.ToParameterPolicy(),
        };
        _policies[keyId] = (policy, now + Ticks(options.Value.PolicyCacheTtl));
        return policy;
    }

    /// <summary>The approved digest (<c>sha256:...</c>) of a canonical model name, or null when not approved.</summary>
    public async ValueTask<string?> ApprovedDigestAsync(string model, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_models.TryGetValue(model, out var cached) && cached.Expires > now)
        {
            return cached.Digest;
        }

        await using var connection = await database.OpenAsync(cancellationToken);
        var digest = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT digest FROM models WHERE name = @model", new { model }, cancellationToken: cancellationToken));
        _models[model] = (digest, now + Ticks(options.Value.PolicyCacheTtl));
        return digest;
    }

    private long Ticks(TimeSpan ttl) => (long)(ttl.TotalSeconds * time.TimestampFrequency);

    private sealed class Row : Tenants.TierColumns
    {
        public string Tier { get; set; } = "";
        public string GuardPolicy { get; set; } = "flag";
        public string LoggingPolicy { get; set; } = "metadata";
        public long? TenantDailyBudget { get; set; }
        public long? TenantMonthlyBudget { get; set; }
        public long? KeyDailyBudget { get; set; }
        public long? KeyMonthlyBudget { get; set; }
    }
}

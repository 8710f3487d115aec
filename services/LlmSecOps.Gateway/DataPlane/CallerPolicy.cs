using System.Collections.Concurrent;
using Dapper;
using LlmSecOps.Gateway.Database;

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
    /// <summary>True when the tier allows <paramref name="model"/> (canonical name).</summary>
    public bool AllowsModel(string model) => Array.IndexOf(AllowedModels, "*") >= 0 || Array.IndexOf(AllowedModels, model) >= 0;
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
                   t.daily_token_budget AS tenant_daily_budget, t.monthly_token_budget AS tenant_monthly_budget,
                   k.daily_token_budget AS key_daily_budget, k.monthly_token_budget AS key_monthly_budget
            FROM keys k JOIN tenants t ON t.id = k.tenant_id JOIN tiers tr ON tr.name = t.tier
            WHERE k.id = @keyId
            """, new { keyId }, cancellationToken: cancellationToken));
        var policy = row is null ? null : new CallerPolicy(row.Tier, row.AllowedModels, row.DefaultMaxTokens, row.MaxMaxTokens,
            row.RequestsPerMinute, row.TokensPerMinute, row.Concurrency, row.GuardPolicy, row.LoggingPolicy,
            row.TenantDailyBudget, row.TenantMonthlyBudget, row.KeyDailyBudget, row.KeyMonthlyBudget);
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

    private sealed class Row
    {
        public string Tier { get; set; } = "";
        public string[] AllowedModels { get; set; } = [];
        public int DefaultMaxTokens { get; set; }
        public int MaxMaxTokens { get; set; }
        public int RequestsPerMinute { get; set; }
        public int TokensPerMinute { get; set; }
        public int Concurrency { get; set; }
        public string GuardPolicy { get; set; } = "flag";
        public string LoggingPolicy { get; set; } = "metadata";
        public long? TenantDailyBudget { get; set; }
        public long? TenantMonthlyBudget { get; set; }
        public long? KeyDailyBudget { get; set; }
        public long? KeyMonthlyBudget { get; set; }
    }
}

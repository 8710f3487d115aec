using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Usage;
using LlmSecOps.Limits;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// The data plane's limits, shared across replicas through Redis (atomic Lua scripts in LlmSecOps.Limits): request
/// rate per key and per tenant and tokens per minute per key (token buckets), the tenant's in-flight cap (expiring
/// leases) and token budgets per key and per tenant (UTC day and month, re-seeded from settled usage in Postgres).
/// </summary>
internal sealed class DataPlaneLimits(RedisKeyStatusBus bus, UsageStore usage, IConfiguration configuration)
{
    private readonly string _prefix = configuration["Redis:KeyPrefix"] ?? "";
    private Task<Parts>? _parts;

    public sealed record Parts(RateLimiter Rate, ConcurrencyLeases Leases, BudgetLedger Budget);

    public Task<Parts> GetAsync() => LazyInitializer.EnsureInitialized(ref _parts, async () =>
    {
        var redis = await bus.ConnectionAsync();
        return new Parts(new RateLimiter(redis), new ConcurrencyLeases(redis), new BudgetLedger(redis));
    });

    public BucketSpec[] RateBuckets(string keyId, string tenantId, CallerPolicy policy, long tokens)
    {
        var rpm = Math.Max(1, policy.RequestsPerMinute);
        var tpm = Math.Max(1, policy.TokensPerMinute);
        return
        [
            new BucketSpec($"{_prefix}rate:key:{keyId}", rpm, rpm / 60.0, 1),
            new BucketSpec($"{_prefix}rate:tenant:{tenantId}", rpm, rpm / 60.0, 1),
            // Tokens per minute: a request costs its reservation, capped at the bucket so one large request can still pass.
            new BucketSpec($"{_prefix}tpm:key:{keyId}", tpm, tpm / 60.0, Math.Min(tokens, tpm)),
        ];
    }

    public string LeaseKey(string tenantId) => $"{_prefix}inflight:tenant:{tenantId}";

    public List<BudgetCounter> BudgetCounters(string keyId, string tenantId, CallerPolicy policy, DateTimeOffset now)
    {
        var counters = new List<BudgetCounter>(4);
        if (policy.KeyDailyBudget is { } kd)
        {
            counters.Add(new BudgetCounter(BudgetPeriods.DayKey(_prefix, "key", keyId, now), kd, BudgetPeriods.DayTtl));
        }

        if (policy.KeyMonthlyBudget is { } km)
        {
            counters.Add(new BudgetCounter(BudgetPeriods.MonthKey(_prefix, "key", keyId, now), km, BudgetPeriods.MonthTtl));
        }

        if (policy.TenantDailyBudget is { } td)
        {
            counters.Add(new BudgetCounter(BudgetPeriods.DayKey(_prefix, "tenant", tenantId, now), td, BudgetPeriods.DayTtl));
        }

        if (policy.TenantMonthlyBudget is { } tm)
        {
            counters.Add(new BudgetCounter(BudgetPeriods.MonthKey(_prefix, "tenant", tenantId, now), tm, BudgetPeriods.MonthTtl));
        }

        return counters;
    }

    /// <summary>Settled usage of a counter's scope and period from Postgres (when Redis lost the counter).</summary>
    public async Task<long> SettledUsageAsync(BudgetCounter counter, string keyId, string tenantId, CancellationToken cancellationToken)
    {
        var isKey = counter.Key.Contains(":key:", StringComparison.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var (from, to) = counter.Key.Contains(":d:", StringComparison.Ordinal) ? BudgetPeriods.Day(now) : BudgetPeriods.Month(now);
        return await usage.TokensAsync(isKey ? null : tenantId, isKey ? keyId : null, from.UtcDateTime, to.UtcDateTime, cancellationToken);
    }
}

/// <summary>The upstream model server (<c>ServiceEndpoints.Resolve(config, "ollama")</c>) and the invoker YARP forwards with.</summary>
internal sealed class UpstreamClient(Uri? baseAddress) : IDisposable
{
    public Uri? BaseAddress { get; } = baseAddress;

    public HttpMessageInvoker Invoker { get; } = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    });

    public void Dispose() => Invoker.Dispose();
}

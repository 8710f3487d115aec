using System.Collections.Concurrent;
using System.Globalization;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Usage;
using LlmSecOps.Limits;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// The data plane's limits, shared across replicas through Redis (atomic Lua scripts in LlmSecOps.Limits): request
/// rate per key and per tenant and tokens per minute per key (token buckets), the tenant's in-flight cap (expiring
/// leases, renewed while a request is still in flight) and token budgets per key and per tenant (UTC day and month,
/// re-seeded from settled usage in Postgres).
/// </summary>
internal sealed partial class DataPlaneLimits(RedisKeyStatusBus bus, UsageStore usage, IConfiguration configuration, IOptions<DataPlaneOptions> options,
    TimeProvider time, ILogger<DataPlaneLimits> logger) : IDisposable
{
    private readonly string _prefix = configuration["Redis:KeyPrefix"] ?? "";
    private readonly ConcurrentDictionary<Lease, long> _held = new(ReferenceEqualityComparer.Instance);
    private readonly CancellationTokenSource _stopping = new();
    private Task<Parts>? _parts;
    private int _renewalLoopStarted;

    public sealed record Parts(RateLimiter Rate, ConcurrencyLeases Leases, BudgetLedger Budget);

    public Task<Parts> GetAsync() => LazyInitializer.EnsureInitialized(ref _parts, async () =>
    {
        var redis = await bus.ConnectionAsync();
        return new Parts(new RateLimiter(redis), new ConcurrencyLeases(redis), new BudgetLedger(redis));
    });

    /// <summary>Bucket order of <see cref="RateBuckets"/>: request rate per key, per tenant, tokens per minute per key.</summary>
    private const int KeyRequests = 0, TenantRequests = 1, KeyTokens = 2;

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

    /// <summary>
    /// Writes the <c>x-ratelimit-*</c> headers (OpenAI's names and meanings) and, when refused, <c>Retry-After</c>:
    /// requests = the tighter of the key's and the tenant's request buckets, tokens = the key's tokens-per-minute
    /// bucket; <c>reset-*</c> = how long until that bucket is full again (e.g. <c>12s</c>).
    /// </summary>
    public static void WriteRateHeaders(IHeaderDictionary headers, CallerPolicy policy, LimitDecision decision)
    {
        var rpm = Math.Max(1, policy.RequestsPerMinute);
        var tpm = Math.Max(1, policy.TokensPerMinute);
        headers["x-ratelimit-limit-requests"] = rpm.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-limit-tokens"] = tpm.ToString(CultureInfo.InvariantCulture);
        if (decision.Levels is { Length: > KeyTokens } levels)
        {
            var requests = Math.Clamp(Math.Min(levels[KeyRequests], levels[TenantRequests]), 0, rpm);
            var tokens = Math.Clamp(levels[KeyTokens], 0, tpm);
            headers["x-ratelimit-remaining-requests"] = requests.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-tokens"] = tokens.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-requests"] = Seconds((rpm - requests) * 60.0 / rpm);
            headers["x-ratelimit-reset-tokens"] = Seconds((tpm - tokens) * 60.0 / tpm);
        }
        else
        {
            headers["x-ratelimit-remaining-requests"] = Math.Max(0, decision.Allowed ? decision.Remaining : 0).ToString(CultureInfo.InvariantCulture);
        }

        if (!decision.Allowed)
        {
            headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(decision.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        static string Seconds(double s) => Math.Max(0, (long)Math.Ceiling(s)).ToString(CultureInfo.InvariantCulture) + "s";
    }

    /// <summary>
    /// Budget headers after a reservation: <c>x-ratelimit-remaining-tokens</c> becomes the tighter of the tokens-per-minute
    /// bucket and the budget (what the caller can really still spend), <c>x-ratelimit-remaining-budget-tokens</c> the budget.
    /// </summary>
    public static void WriteBudgetHeaders(IHeaderDictionary headers, long budgetRemaining)
    {
        var budget = Math.Max(0, budgetRemaining);
        headers["x-ratelimit-remaining-budget-tokens"] = budget.ToString(CultureInfo.InvariantCulture);
        if (!long.TryParse(headers["x-ratelimit-remaining-tokens"], NumberStyles.None, CultureInfo.InvariantCulture, out var perMinute) || budget < perMinute)
        {
            headers["x-ratelimit-remaining-tokens"] = budget.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The 429 message for a refused rate check: which limit refused.</summary>
    public static string RateRefusalMessage(LimitDecision decision) => decision.RefusingIndex == KeyTokens
        ? "Tokens-per-minute limit reached for this API key; retry after the time in Retry-After."
        : "Rate limit reached for this API key; retry after the time in Retry-After.";

    public string LeaseKey(string tenantId) => $"{_prefix}inflight:tenant:{tenantId}";

    /// <summary>
    /// Keeps <paramref name="lease"/> alive while its request is in flight: a background loop renews every held lease
    /// once it is a quarter of the TTL old, so a stream running longer than <see cref="DataPlaneOptions.LeaseTtl"/> keeps
    /// its slot, while a replica killed mid-request stops renewing and its leases expire. Costs a dictionary entry per
    /// request; only requests older than TTL/4 ever cause a Redis call. Pair with <see cref="ReleaseAsync"/>.
    /// </summary>
    public void KeepAlive(ConcurrencyLeases leases, Lease lease)
    {
        _held[lease] = time.GetTimestamp();
        if (Interlocked.Exchange(ref _renewalLoopStarted, 1) == 0)
        {
            _ = Task.Run(() => RenewLoopAsync(leases));
        }
    }

    /// <summary>Stops renewing <paramref name="lease"/> and gives it back.</summary>
    public async Task ReleaseAsync(ConcurrencyLeases leases, Lease lease)
    {
        _held.TryRemove(lease, out _);
        await leases.ReleaseAsync(lease);
    }

    /// <summary>Leases this replica holds and renews (diagnostics, tests).</summary>
    public int HeldLeases => _held.Count;

    private async Task RenewLoopAsync(ConcurrencyLeases leases)
    {
        var quarter = options.Value.LeaseTtl / 4;
        var stopping = _stopping.Token;
        using var timer = new PeriodicTimer(quarter, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                var now = time.GetTimestamp();
                List<Task>? renewals = null;
                foreach (var (lease, renewed) in _held)
                {
                    if (time.GetElapsedTime(renewed, now) >= quarter)
                    {
                        (renewals ??= []).Add(RenewAsync(leases, lease, now));
                    }
                }

                if (renewals is not null)
                {
                    await Task.WhenAll(renewals);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task RenewAsync(ConcurrencyLeases leases, Lease lease, long now)
    {
        try
        {
            if (await leases.RenewAsync(lease))
            {
                // Only while still held: a release that raced this renewal must not be re-added.
                if (_held.TryGetValue(lease, out var previous))
                {
                    _held.TryUpdate(lease, now, previous);
                }
            }
            else if (_held.TryRemove(lease, out _))
            {
                Log.LeaseExpired(logger, lease.Key);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Redis unreachable: keep trying on the next tick; the lease may expire meanwhile (fail safe: capacity returns).
            Log.LeaseRenewalFailed(logger, lease.Key, e);
        }
    }

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

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "A concurrency lease on {LeaseKey} expired before its request finished; its slot was already reusable.")]
        public static partial void LeaseExpired(ILogger logger, string leaseKey);

        [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "Could not renew a concurrency lease on {LeaseKey}; retrying on the next tick.")]
        public static partial void LeaseRenewalFailed(ILogger logger, string leaseKey, Exception exception);
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

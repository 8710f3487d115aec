using System.Security.Cryptography;
using LlmSecOps.Redis;

namespace LlmSecOps.Limits;

/// <summary>Everything one request asks of the limits before it is forwarded, checked in one Redis round trip.</summary>
/// <param name="Buckets">Token buckets (request rate per key and tenant, tokens per minute...), all-or-nothing.</param>
/// <param name="LeaseKey">The concurrency lease set (per tenant).</param>
/// <param name="LeaseCap">Leases that may be held at once.</param>
/// <param name="LeaseTtl">Lifetime of the lease unless renewed.</param>
/// <param name="Counters">Budget counters to reserve on (may be empty: nothing reserved).</param>
/// <param name="Requested">Tokens to reserve (ignored without counters).</param>
/// <param name="Minimum">Smallest useful grant: less remaining is a refusal.</param>
public sealed record AdmissionRequest(
    IReadOnlyList<BucketSpec> Buckets,
    string LeaseKey,
    int LeaseCap,
    TimeSpan LeaseTtl,
    IReadOnlyList<BudgetCounter> Counters,
    long Requested,
    long Minimum);

/// <summary>Which check refused a request (they run in ARCHITECTURE.md's order: rate, concurrency, budget).</summary>
public enum AdmissionRefusal
{
    /// <summary>Admitted.</summary>
    None,

    /// <summary>A token bucket refused (see <see cref="AdmissionResult.Rate"/>).</summary>
    Rate,

    /// <summary>The tenant's in-flight cap is reached (see <see cref="AdmissionResult.Lease"/>).</summary>
    Concurrency,

    /// <summary>The budget has less left than the minimum (see <see cref="AdmissionResult.Budget"/>).</summary>
    Budget,
}

/// <summary>The outcome of <see cref="Admission.AdmitAsync"/>: each check's own result, as the separate classes report it.</summary>
/// <param name="Refusal">The check that refused, or <see cref="AdmissionRefusal.None"/>.</param>
/// <param name="Rate">The token buckets' decision (always set: the rate is checked first).</param>
/// <param name="Lease">The lease (acquired when admitted); default when the rate refused.</param>
/// <param name="Budget">The reservation result when counters were given and the budget was reached; else null.</param>
public sealed record AdmissionResult(AdmissionRefusal Refusal, LimitDecision Rate, LeaseResult Lease, ReserveResult? Budget)
{
    /// <summary>True when every check passed: the buckets were charged, the lease is held and the budget reserved.</summary>
    public bool Admitted => Refusal == AdmissionRefusal.None;
}

/// <summary>
/// The request-rate buckets, the concurrency lease and the budget reservation of one request in ONE atomic script
/// (one round trip before the upstream is called), with the same semantics as <see cref="RateLimiter"/>,
/// <see cref="ConcurrencyLeases"/> and <see cref="BudgetLedger"/> called in that order: a request refused by a later
/// check has still been charged by the buckets (as before), a refused lease or budget leaves nothing held. A budget
/// counter Redis lost is seeded from settled usage first, before anything is charged, and the script retried.
/// After the response, settle with <see cref="BudgetLedger.SettleAsync"/> and release with
/// <see cref="ConcurrencyLeases.ReleaseAsync"/> without awaiting one before sending the other (pipelined: one round trip).
/// </summary>
public sealed class Admission(RedisConnection redis)
{
    private const int MaxSeedRounds = 8;

    /// <summary>Checks and, where allowed, charges every limit of <paramref name="request"/> at once.</summary>
    /// <param name="request">What to check.</param>
    /// <param name="settledUsage">A budget counter's settled usage from the durable store, when Redis has none.</param>
    /// <param name="cancellationToken">Stops waiting (a sent script still runs).</param>
    public async Task<AdmissionResult> AdmitAsync(AdmissionRequest request, Func<BudgetCounter, CancellationToken, Task<long>> settledUsage,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(request.Buckets.Count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.LeaseCap);
        var nb = request.Buckets.Count;
        var nc = request.Counters.Count;
        if (nc > 0)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.Requested);
        }

        var keys = new string[nb + 1 + nc];
        var args = new RedisArg[2 + (nb * 3) + 3 + 2 + (nc * 2)];
        var a = 0;
        args[a++] = nb;
        args[a++] = nc;
        for (var i = 0; i < nb; i++)
        {
            var b = request.Buckets[i];
            if (b.Capacity <= 0 || b.RefillPerSecond <= 0 || b.Cost < 0)
            {
                throw new ArgumentException($"Bucket {b.Key}: capacity and refill rate must be positive and cost non-negative.", nameof(request));
            }

            keys[i] = b.Key;
            args[a++] = b.Capacity;
            args[a++] = b.RefillPerSecond;
            args[a++] = b.Cost;
        }

        var leaseId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        keys[nb] = request.LeaseKey;
        args[a++] = request.LeaseCap;
        args[a++] = leaseId;
        args[a++] = (long)request.LeaseTtl.TotalMilliseconds;
        args[a++] = Math.Max(1, request.Requested);
        args[a++] = Math.Max(1, request.Minimum);
        for (var i = 0; i < nc; i++)
        {
            keys[nb + 1 + i] = request.Counters[i].Key;
            args[a++] = Math.Max(0, request.Counters[i].Limit);
            args[a++] = (long)request.Counters[i].Ttl.TotalSeconds;
        }

        for (var round = 0; round < MaxSeedRounds; round++)
        {
            var reply = await AdmissionScripts.Admit.EvaluateAsync(redis, keys, args).WaitAsync(cancellationToken);
            var status = reply[0].AsInt64();
            if (status < 0)
            {
                // A budget counter is missing (Redis restarted): nothing was charged; seed it from settled usage and retry.
                var missing = request.Counters[(int)reply[1].AsInt64() - 1];
                var used = await settledUsage(missing, cancellationToken);
                await BudgetLedger.SeedAsync(redis, missing, used);
                continue;
            }

            var stage = reply[1].AsInt64();
            var levels = new long[nb];
            for (var i = 0; i < nb; i++)
            {
                levels[i] = reply[5 + i].AsInt64();
            }

            var rateAllowed = stage != 1;
            var rate = new LimitDecision(rateAllowed, reply[2].AsInt64(), rateAllowed ? TimeSpan.Zero : TimeSpan.FromMilliseconds(reply[3].AsInt64()),
                rateAllowed ? -1 : (int)reply[4].AsInt64() - 1) { Levels = levels };
            switch (stage)
            {
                case 1:
                    return new AdmissionResult(AdmissionRefusal.Rate, rate, default, null);
                case 2:
                    return new AdmissionResult(AdmissionRefusal.Concurrency, rate with { RetryAfter = TimeSpan.Zero },
                        new LeaseResult(null, reply[5 + nb].AsInt64(), TimeSpan.FromMilliseconds(reply[3].AsInt64())), null);
                case 3:
                    return new AdmissionResult(AdmissionRefusal.Budget, rate, new LeaseResult(null, 0, TimeSpan.Zero),
                        new ReserveResult(null, reply[5 + nb].AsInt64(), (int)reply[6 + nb].AsInt64() - 1));
                default:
                    var lease = new LeaseResult(new Lease(request.LeaseKey, leaseId, request.LeaseTtl), reply[5 + nb].AsInt64(), TimeSpan.Zero);
                    ReserveResult? budget = null;
                    if (nc > 0)
                    {
                        var epochs = new string[nc];
                        for (var i = 0; i < nc; i++)
                        {
                            epochs[i] = reply[8 + nb + i].AsString()!;
                        }

                        budget = new ReserveResult(new BudgetReservation(request.Counters, reply[6 + nb].AsInt64(), epochs), 0, (int)reply[7 + nb].AsInt64() - 1);
                    }

                    return new AdmissionResult(AdmissionRefusal.None, rate, lease, budget);
            }
        }

        throw new InvalidOperationException("Budget counters kept disappearing while being seeded; is Redis evicting keys (maxmemory-policy must be noeviction)?");
    }
}

/// <summary>The admission script (see <see cref="Admission"/>).</summary>
internal static class AdmissionScripts
{
    /// <summary>
    /// KEYS: nb bucket hashes, the lease set, nc budget counters. ARGV: nb, nc, (capacity, refill/s, cost) per bucket,
    /// lease cap, lease id, lease ttl ms, requested, minimum, (limit, ttl s) per counter.
    /// Reply: {-1, counter index} when a budget counter is missing (nothing changed); else
    /// {status, stage, x, y, z, level per bucket, ...} where stage 1 = rate refused (x remaining, y retry ms, z bucket index),
    /// 2 = concurrency refused (x remaining requests, y retry ms; then held), 3 = budget refused (x remaining requests;
    /// then remaining budget, limiting index), 0 = admitted (x remaining requests; then held, grant, limiting index,
    /// epochs). The bucket, lease and reserve logic is that of LimitScripts' TokenBuckets, AcquireLease and Reserve.
    /// </summary>
    public static readonly RedisScript Admit = new($$"""
        {{LimitScripts.ChargeBucketsLua}}
        local nb = tonumber(ARGV[1])
        local nc = tonumber(ARGV[2])
        local cstate = {}
        for i = 1, nc do
          local state = redis.call('HMGET', KEYS[nb + 1 + i], 'used', 'epoch')
          if state[1] == false or state[2] == false then
            return {-1, i}
          end
          cstate[i] = state
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local allowed, remaining, retry, refusing, levels = charge_buckets(nb, 2, now)
        local function reply(status, stage, x, y, z, extra)
          local r = {status, stage, x, y, z}
          for i = 1, nb do
            r[5 + i] = levels[i]
          end
          for i = 1, #extra do
            r[5 + nb + i] = extra[i]
          end
          return r
        end
        if allowed == 0 then
          return reply(0, 1, math.floor(remaining), retry, refusing, {})
        end
        local a = 2 + nb * 3
        local lk = KEYS[nb + 1]
        local cap = tonumber(ARGV[a + 1])
        local id = ARGV[a + 2]
        local ttl = tonumber(ARGV[a + 3])
        redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
        local held = redis.call('ZCARD', lk)
        if held >= cap then
          local first = redis.call('ZRANGE', lk, 0, 0, 'WITHSCORES')
          local wait = 1000
          if first[2] then
            wait = math.max(1, tonumber(first[2]) - now)
          end
          return reply(0, 2, math.floor(remaining), wait, 0, {held})
        end
        local grant = tonumber(ARGV[a + 4])
        local minimum = tonumber(ARGV[a + 5])
        local limiting = 0
        for i = 1, nc do
          local limit = tonumber(ARGV[a + 5 + (i - 1) * 2 + 1])
          if limit > 0 then
            local left = limit - tonumber(cstate[i][1])
            if left < grant then
              grant = left
              limiting = i
            end
          end
        end
        if nc > 0 and (grant < minimum or grant <= 0) then
          return reply(0, 3, math.floor(remaining), 0, 0, {math.max(grant, 0), limiting})
        end
        redis.call('ZADD', lk, now + ttl, id)
        redis.call('PEXPIRE', lk, ttl * 2)
        local extra = {held + 1, 0, limiting}
        if nc > 0 then
          extra[2] = grant
          for i = 1, nc do
            redis.call('HINCRBY', KEYS[nb + 1 + i], 'used', grant)
            extra[3 + i] = cstate[i][2]
          end
        end
        return reply(1, 0, math.floor(remaining), 0, 0, extra)
        """);
}

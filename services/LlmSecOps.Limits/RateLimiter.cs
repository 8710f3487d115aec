using LlmSecOps.Redis;

namespace LlmSecOps.Limits;

/// <summary>One token bucket: <paramref name="Capacity"/> tokens, refilled at <paramref name="RefillPerSecond"/>, charged <paramref name="Cost"/>.</summary>
public readonly record struct BucketSpec(string Key, double Capacity, double RefillPerSecond, double Cost);

/// <summary>The outcome of a rate-limit check.</summary>
/// <param name="Allowed">True when every bucket had room (and was charged).</param>
/// <param name="Remaining">Tokens left in the tightest bucket (for <c>x-ratelimit-remaining-*</c>).</param>
/// <param name="RetryAfter">When refused: how long until the refusing bucket has room (for <c>Retry-After</c>).</param>
/// <param name="RefusingIndex">When refused: the index of the bucket that refused; else -1.</param>
public readonly record struct LimitDecision(bool Allowed, long Remaining, TimeSpan RetryAfter, int RefusingIndex)
{
    /// <summary>Each bucket's level in the order given (after charging when allowed), for per-limit <c>x-ratelimit-*</c> headers.</summary>
    public long[] Levels { get; init; } = [];
}

/// <summary>
/// Token-bucket rate limits shared by every replica through Redis (request rate per key and per tenant, tokens per
/// minute). All buckets of one request are checked and charged in one atomic script: a request refused by the
/// tenant's bucket does not drain the key's.
/// </summary>
public sealed class RateLimiter(RedisConnection redis)
{
    /// <summary>Checks and, when all allow, charges every bucket.</summary>
    public async Task<LimitDecision> TryAcquireAsync(IReadOnlyList<BucketSpec> buckets)
    {
        ArgumentOutOfRangeException.ThrowIfZero(buckets.Count);
        var keys = new string[buckets.Count];
        var args = new RedisArg[buckets.Count * 3];
        for (var i = 0; i < buckets.Count; i++)
        {
            var b = buckets[i];
            if (b.Capacity <= 0 || b.RefillPerSecond <= 0 || b.Cost < 0)
            {
                throw new ArgumentException($"Bucket {b.Key}: capacity and refill rate must be positive and cost non-negative.", nameof(buckets));
            }

            keys[i] = b.Key;
            args[i * 3] = b.Capacity;
            args[(i * 3) + 1] = b.RefillPerSecond;
            args[(i * 3) + 2] = b.Cost;
        }

        var reply = await LimitScripts.TokenBuckets.EvaluateAsync(redis, keys, args);
        var allowed = reply[0].AsInt64() == 1;
        var levels = new long[buckets.Count];
        for (var i = 0; i < levels.Length && 4 + i < reply.Length; i++)
        {
            levels[i] = reply[4 + i].AsInt64();
        }

        return new LimitDecision(allowed, reply[1].AsInt64(), TimeSpan.FromMilliseconds(reply[2].AsInt64()), allowed ? -1 : (int)reply[3].AsInt64() - 1)
        {
            Levels = levels,
        };
    }
}

using System.Security.Cryptography;
using LlmSecOps.Redis;

namespace LlmSecOps.Limits;

/// <summary>A held concurrency lease; release it when the request completes, renew it during long streams.</summary>
public sealed record Lease(string Key, string Id, TimeSpan Ttl);

/// <summary>The outcome of a lease request.</summary>
public readonly record struct LeaseResult(Lease? Lease, long Held, TimeSpan RetryAfter)
{
    /// <summary>True when a lease was granted.</summary>
    public bool Acquired => Lease is not null;
}

/// <summary>
/// A per-tenant cap on requests in flight, as expiring leases in a Redis sorted set. A gateway killed mid-request
/// never releases its leases; they expire after their TTL, so capacity cannot leak. Long requests renew.
/// </summary>
public sealed class ConcurrencyLeases(RedisConnection redis)
{
    /// <summary>Takes a lease if fewer than <paramref name="cap"/> are held.</summary>
    public async Task<LeaseResult> TryAcquireAsync(string key, int cap, TimeSpan ttl)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cap);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var reply = await LimitScripts.AcquireLease.EvaluateAsync(redis, [key], [cap, id, (long)ttl.TotalMilliseconds]);
        return reply[0].AsInt64() == 1
            ? new LeaseResult(new Lease(key, id, ttl), reply[1].AsInt64(), TimeSpan.Zero)
            : new LeaseResult(null, reply[1].AsInt64(), TimeSpan.FromMilliseconds(reply[2].AsInt64()));
    }

    /// <summary>Extends a lease by its TTL from now; false when it had already expired.</summary>
    public async Task<bool> RenewAsync(Lease lease) =>
        (await LimitScripts.RenewLease.EvaluateAsync(redis, [lease.Key], [lease.Id, (long)lease.Ttl.TotalMilliseconds])).AsInt64() == 1;

    /// <summary>Gives the lease back.</summary>
    public async Task ReleaseAsync(Lease lease) =>
        await redis.ExecuteAsync("ZREM", lease.Key, lease.Id);
}

using LlmSecOps.Redis.Connection;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

/// <summary>How <see cref="RedisConnection.SetAsync"/> treats an existing key.</summary>
public enum RedisSetCondition
{
    /// <summary>Always set.</summary>
    Always,

    /// <summary>Only if the key does not exist (<c>NX</c>).</summary>
    IfNotExists,

    /// <summary>Only if the key exists (<c>XX</c>).</summary>
    IfExists,
}

public sealed partial class RedisConnection
{
    // INCRBY and, when the counter has no expiry yet, PEXPIRE, atomically: a counter created by the first
    // increment of a window gets its TTL even if the client dies between the two steps.
    private static readonly RedisScript IncrByWithExpiryScript = new(
        "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) " +
        "if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end " +
        "return v");

    /// <summary><c>PING</c>; returns the round-trip time.</summary>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken = default)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(1);
        cmd.WriteBulk("PING"u8);
        await Send(cmd, "PING", cancellationToken);
        return System.Diagnostics.Stopwatch.GetElapsedTime(started);
    }

    /// <summary><c>GET key</c> as UTF-8 text; <see langword="null"/> when the key does not exist.</summary>
    public Task<string?> GetAsync(string key)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk("GET"u8);
        cmd.WriteBulk(key);
        return Send(cmd, "GET", Replies.String);
    }

    /// <summary>
    /// <c>SET key value [PX ms] [NX|XX]</c>. Returns <see langword="false"/> when the condition prevented the write.
    /// </summary>
    public Task<bool> SetAsync(string key, RedisArg value, TimeSpan? expiry = null, RedisSetCondition condition = RedisSetCondition.Always)
    {
        var count = 3 + (expiry is null ? 0 : 2) + (condition == RedisSetCondition.Always ? 0 : 1);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(count);
        cmd.WriteBulk("SET"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(value);
        if (expiry is { } ttl)
        {
            cmd.WriteBulk("PX"u8);
            cmd.WriteBulk(ToPositiveMilliseconds(ttl, nameof(expiry)));
        }

        if (condition != RedisSetCondition.Always)
        {
            cmd.WriteBulk(condition == RedisSetCondition.IfNotExists ? "NX"u8 : "XX"u8);
        }

        return Send(cmd, "SET", Replies.IsNotNull);
    }

    /// <summary>
    /// <c>INCRBY key increment</c>; with <paramref name="expiry"/>, also sets that TTL atomically when the counter
    /// has none yet (a new window's counter). Returns the new value.
    /// </summary>
    public Task<long> IncrByAsync(string key, long increment = 1, TimeSpan? expiry = null)
    {
        if (expiry is { } ttl)
        {
            return AsInt64(IncrByWithExpiryScript.EvaluateAsync(this, [key], [increment, ToPositiveMilliseconds(ttl, nameof(expiry))]));
        }

        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("INCRBY"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(increment);
        return Send(cmd, "INCRBY", Replies.Int64);
    }

    /// <summary><c>DECRBY key decrement</c>; returns the new value.</summary>
    public Task<long> DecrByAsync(string key, long decrement = 1)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("DECRBY"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(decrement);
        return Send(cmd, "DECRBY", Replies.Int64);
    }

    /// <summary><c>PEXPIRE key ms</c>; <see langword="false"/> when the key does not exist.</summary>
    public Task<bool> ExpireAsync(string key, TimeSpan ttl)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("PEXPIRE"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(ToPositiveMilliseconds(ttl, nameof(ttl)));
        return Send(cmd, "PEXPIRE", Replies.IsOne);
    }

    /// <summary><c>PTTL key</c>: the remaining time to live, or <see langword="null"/> when the key is missing or has none.</summary>
    public async Task<TimeSpan?> TimeToLiveAsync(string key)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk("PTTL"u8);
        cmd.WriteBulk(key);
        var ms = (await Send(cmd, "PTTL")).AsInt64();
        return ms < 0 ? null : TimeSpan.FromMilliseconds(ms);
    }

    /// <summary><c>DEL key...</c>; returns how many keys existed.</summary>
    public Task<long> DelAsync(params ReadOnlySpan<string> keys)
    {
        if (keys.IsEmpty)
        {
            throw new ArgumentException("DEL needs at least one key.", nameof(keys));
        }

        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(1 + keys.Length);
        cmd.WriteBulk("DEL"u8);
        foreach (var key in keys)
        {
            cmd.WriteBulk(key);
        }

        return Send(cmd, "DEL", Replies.Int64);
    }

    /// <summary><c>EXISTS key</c>.</summary>
    public Task<bool> ExistsAsync(string key)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk("EXISTS"u8);
        cmd.WriteBulk(key);
        return Send(cmd, "EXISTS", Replies.IsOne);
    }

    internal static long ToPositiveMilliseconds(TimeSpan value, string name)
    {
        var ms = (long)Math.Ceiling(value.TotalMilliseconds);
        return ms > 0 ? ms : throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
    }

    internal static async Task<long> AsInt64(Task<RedisValue> reply) => (await reply).AsInt64();
}

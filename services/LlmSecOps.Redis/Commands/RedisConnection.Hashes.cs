using LlmSecOps.Redis.Connection;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

public sealed partial class RedisConnection
{
    /// <summary><c>HSET key field value</c>; <see langword="true"/> when the field is new.</summary>
    public Task<bool> HashSetAsync(string key, string field, RedisArg value)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(4);
        cmd.WriteBulk("HSET"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(field);
        cmd.WriteBulk(value);
        return Send(cmd, "HSET", Replies.IsOne);
    }

    /// <summary><c>HSET key field value [field value ...]</c>; returns how many fields were new.</summary>
    public Task<long> HashSetAsync(string key, ReadOnlySpan<(string Field, RedisArg Value)> fields)
    {
        if (fields.IsEmpty)
        {
            throw new ArgumentException("HSET needs at least one field.", nameof(fields));
        }

        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2 + (2 * fields.Length));
        cmd.WriteBulk("HSET"u8);
        cmd.WriteBulk(key);
        foreach (ref readonly var pair in fields)
        {
            cmd.WriteBulk(pair.Field);
            cmd.WriteBulk(pair.Value);
        }

        return Send(cmd, "HSET", Replies.Int64);
    }

    /// <summary><c>HGET key field</c>; <see langword="null"/> when missing.</summary>
    public Task<string?> HashGetAsync(string key, string field)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("HGET"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(field);
        return Send(cmd, "HGET", Replies.String);
    }

    /// <summary><c>HGETALL key</c>; empty when the key does not exist.</summary>
    public async Task<Dictionary<string, string>> HashGetAllAsync(string key)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk("HGETALL"u8);
        cmd.WriteBulk(key);
        var reply = await Send(cmd, "HGETALL");
        var items = reply.AsSpan();
        var result = new Dictionary<string, string>(items.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < items.Length; i += 2)
        {
            result[items[i].AsString()!] = items[i + 1].AsString() ?? "";
        }

        return result;
    }

    /// <summary><c>HINCRBY key field increment</c>; returns the new value.</summary>
    public Task<long> HashIncrByAsync(string key, string field, long increment = 1)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(4);
        cmd.WriteBulk("HINCRBY"u8);
        cmd.WriteBulk(key);
        cmd.WriteBulk(field);
        cmd.WriteBulk(increment);
        return Send(cmd, "HINCRBY", Replies.Int64);
    }

    /// <summary><c>HDEL key field...</c>; returns how many fields were removed.</summary>
    public Task<long> HashDeleteAsync(string key, params ReadOnlySpan<string> fields)
    {
        if (fields.IsEmpty)
        {
            throw new ArgumentException("HDEL needs at least one field.", nameof(fields));
        }

        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2 + fields.Length);
        cmd.WriteBulk("HDEL"u8);
        cmd.WriteBulk(key);
        foreach (var field in fields)
        {
            cmd.WriteBulk(field);
        }

        return Send(cmd, "HDEL", Replies.Int64);
    }
}

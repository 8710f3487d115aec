using LlmSecOps.Redis.Connection;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

public sealed partial class RedisConnection
{
    /// <summary>
    /// <c>XADD stream [MAXLEN [~] n] id field value...</c>; returns the new entry's id. With
    /// <paramref name="maxLength"/>, trims the stream, approximately (<c>~</c>, cheap) unless <paramref name="approximateTrim"/> is off.
    /// </summary>
    public Task<string> XAddAsync(
        string stream, ReadOnlySpan<(string Field, RedisArg Value)> fields, long? maxLength = null, bool approximateTrim = true, string id = "*")
    {
        if (fields.IsEmpty)
        {
            throw new ArgumentException("XADD needs at least one field.", nameof(fields));
        }

        var count = 3 + (2 * fields.Length) + (maxLength is null ? 0 : approximateTrim ? 3 : 2);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(count);
        cmd.WriteBulk("XADD"u8);
        cmd.WriteBulk(stream);
        if (maxLength is { } max)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(max, nameof(maxLength));
            cmd.WriteBulk("MAXLEN"u8);
            if (approximateTrim)
            {
                cmd.WriteBulk("~"u8);
            }

            cmd.WriteBulk(max);
        }

        cmd.WriteBulk(id);
        foreach (ref readonly var pair in fields)
        {
            cmd.WriteBulk(pair.Field);
            cmd.WriteBulk(pair.Value);
        }

        return AsId(Send(cmd, "XADD"));

        static async Task<string> AsId(Task<RedisValue> reply) => (await reply).AsString()!;
    }

    /// <summary>
    /// <c>XGROUP CREATE stream group startId [MKSTREAM]</c>. Returns <see langword="false"/> when the group already
    /// exists (<c>BUSYGROUP</c>), so it can be called at every start-up.
    /// </summary>
    public async Task<bool> XGroupCreateAsync(string stream, string group, string startId = "$", bool createStream = true)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(createStream ? 6 : 5);
        cmd.WriteBulk("XGROUP"u8);
        cmd.WriteBulk("CREATE"u8);
        cmd.WriteBulk(stream);
        cmd.WriteBulk(group);
        cmd.WriteBulk(startId);
        if (createStream)
        {
            cmd.WriteBulk("MKSTREAM"u8);
        }

        try
        {
            await Send(cmd, "XGROUP CREATE");
            return true;
        }
        catch (RedisServerException ex) when (ex.ErrorCode == "BUSYGROUP")
        {
            return false;
        }
    }

    /// <summary>
    /// <c>XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS stream id</c> for one stream.
    /// <paramref name="id"/> <c>&gt;</c> reads new entries; <c>0</c> re-reads this consumer's pending ones.
    /// With <paramref name="block"/> the read runs on the dedicated blocking connection (ordinary commands are
    /// never stalled behind it) and returns an empty list when nothing arrived in time. Blocking reads of one
    /// <see cref="RedisConnection"/> are served one after another.
    /// </summary>
    public Task<IReadOnlyList<RedisStreamEntry>> XReadGroupAsync(
        string group, string consumer, string stream, int count, TimeSpan? block = null, string id = ">", bool noAck = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var args = 7 + (block is null ? 0 : 2) + (noAck ? 1 : 0);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(args + 2);
        cmd.WriteBulk("XREADGROUP"u8);
        cmd.WriteBulk("GROUP"u8);
        cmd.WriteBulk(group);
        cmd.WriteBulk(consumer);
        cmd.WriteBulk("COUNT"u8);
        cmd.WriteBulk(count);
        if (block is { } b)
        {
            // BLOCK 0 would wait forever and pin the blocking connection: ask for a bounded wait and loop instead.
            cmd.WriteBulk("BLOCK"u8);
            cmd.WriteBulk(ToPositiveMilliseconds(b, nameof(block)));
        }

        if (noAck)
        {
            cmd.WriteBulk("NOACK"u8);
        }

        cmd.WriteBulk("STREAMS"u8);
        cmd.WriteBulk(stream);
        cmd.WriteBulk(id);
        var reply = block is { } wait
            ? SendBlocking(cmd, "XREADGROUP", wait, cancellationToken)
            : Send(cmd, "XREADGROUP", cancellationToken);
        return ParseRead(reply);

        static async Task<IReadOnlyList<RedisStreamEntry>> ParseRead(Task<RedisValue> reply)
        {
            var value = await reply;
            if (value.IsNull || value.Length == 0)
            {
                return [];
            }

            // [[stream, [entry, ...]]]
            return RedisStreamEntry.ListFromReply(value[0][1]);
        }
    }

    /// <summary><c>XACK stream group id...</c>; returns how many entries were acknowledged.</summary>
    public Task<long> XAckAsync(string stream, string group, params ReadOnlySpan<string> ids)
    {
        if (ids.IsEmpty)
        {
            throw new ArgumentException("XACK needs at least one id.", nameof(ids));
        }

        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3 + ids.Length);
        cmd.WriteBulk("XACK"u8);
        cmd.WriteBulk(stream);
        cmd.WriteBulk(group);
        foreach (var id in ids)
        {
            cmd.WriteBulk(id);
        }

        return Send(cmd, "XACK", Replies.Int64);
    }

    /// <summary>
    /// <c>XAUTOCLAIM stream group consumer min-idle-ms start COUNT n</c>: takes over entries other consumers read
    /// but did not acknowledge for at least <paramref name="minIdle"/> (e.g. a consumer that crashed).
    /// </summary>
    public async Task<RedisAutoClaimResult> XAutoClaimAsync(
        string stream, string group, string consumer, TimeSpan minIdle, string start = "0-0", int count = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(minIdle, TimeSpan.Zero);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(8);
        cmd.WriteBulk("XAUTOCLAIM"u8);
        cmd.WriteBulk(stream);
        cmd.WriteBulk(group);
        cmd.WriteBulk(consumer);
        cmd.WriteBulk((long)minIdle.TotalMilliseconds);
        cmd.WriteBulk(start);
        cmd.WriteBulk("COUNT"u8);
        cmd.WriteBulk(count);
        var reply = await Send(cmd, "XAUTOCLAIM");
        var deleted = new List<string>();
        if (reply.Length > 2)
        {
            foreach (var id in reply[2].AsSpan())
            {
                deleted.Add(id.AsString()!);
            }
        }

        return new RedisAutoClaimResult(reply[0].AsString()!, RedisStreamEntry.ListFromReply(reply[1]), deleted);
    }

    /// <summary><c>XLEN stream</c>.</summary>
    public Task<long> XLenAsync(string stream)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk("XLEN"u8);
        cmd.WriteBulk(stream);
        return Send(cmd, "XLEN", Replies.Int64);
    }

    /// <summary><c>XPENDING stream group</c>: how many entries the group has read but not acknowledged.</summary>
    public async Task<long> XPendingCountAsync(string stream, string group)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("XPENDING"u8);
        cmd.WriteBulk(stream);
        cmd.WriteBulk(group);
        var reply = await Send(cmd, "XPENDING");
        return reply[0].AsInt64();
    }
}

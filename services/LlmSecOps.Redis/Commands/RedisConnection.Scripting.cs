using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

public sealed partial class RedisConnection
{
    /// <summary><c>SCRIPT LOAD source</c>; returns the SHA-1 to call with <see cref="EvalShaAsync"/>.</summary>
    public Task<string> ScriptLoadAsync(string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("SCRIPT"u8);
        cmd.WriteBulk("LOAD"u8);
        cmd.WriteBulk(source);
        return AsNonNullString(Send(cmd, "SCRIPT LOAD"));

        static async Task<string> AsNonNullString(Task<RedisValue> reply) => (await reply).AsString() ?? "";
    }

    /// <summary>
    /// <c>EVALSHA sha numkeys key... arg...</c>. Throws <see cref="RedisServerException"/> with
    /// <see cref="RedisServerException.ErrorCode"/> <c>NOSCRIPT</c> when the server does not know the script;
    /// <see cref="RedisScript.EvaluateAsync"/> handles that for you.
    /// </summary>
    public Task<RedisValue> EvalShaAsync(string sha1, ReadOnlySpan<string> keys = default, ReadOnlySpan<RedisArg> args = default) =>
        Send(BuildEvalSha(sha1, keys, args), "EVALSHA");

    internal static RespBuffer BuildEvalSha(string sha1, ReadOnlySpan<string> keys, ReadOnlySpan<RedisArg> args)
    {
        ArgumentException.ThrowIfNullOrEmpty(sha1);
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3 + keys.Length + args.Length);
        cmd.WriteBulk("EVALSHA"u8);
        cmd.WriteBulk(sha1);
        cmd.WriteBulk(keys.Length);
        foreach (var key in keys)
        {
            cmd.WriteBulk(key);
        }

        foreach (ref readonly var arg in args)
        {
            cmd.WriteBulk(arg);
        }

        return cmd;
    }
}

using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

/// <summary>
/// A Lua script run with <c>EVALSHA</c>. Its SHA-1 is computed once, locally (it is what <c>SCRIPT LOAD</c> returns),
/// so the script body is sent only when the server answers <c>NOSCRIPT</c> — after <c>SCRIPT FLUSH</c>, a restart or
/// a fail-over — in which case it is loaded and the call retried, transparently. Create one instance per script
/// and keep it (a static field is fine); it is thread-safe.
/// </summary>
public sealed class RedisScript
{
    /// <summary>Creates the script.</summary>
    public RedisScript(string source)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        Source = source;
        // SHA-1 is not used for security here: it is the name Redis gives a script (EVALSHA), fixed by the protocol.
#pragma warning disable CA5350
        Sha1 = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(source)));
#pragma warning restore CA5350
    }

    /// <summary>The Lua source.</summary>
    public string Source { get; }

    /// <summary>Lowercase hex SHA-1 of the source, as Redis names it.</summary>
    public string Sha1 { get; }

    /// <summary>
    /// Runs the script: <c>EVALSHA sha numkeys key... arg...</c>, falling back to <c>SCRIPT LOAD</c> + retry on
    /// <c>NOSCRIPT</c>. The reply is returned raw; errors raised by the script surface as <see cref="RedisServerException"/>.
    /// </summary>
    public Task<RedisValue> EvaluateAsync(RedisConnection connection, ReadOnlySpan<string> keys = default, ReadOnlySpan<RedisArg> args = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var cmd = RedisConnection.BuildEvalSha(Sha1, keys, args);

        // Keep a copy of the serialized command for the rare retry: the arguments cannot outlive this call.
        var copy = ArrayPool<byte>.Shared.Rent(cmd.Length);
        var length = cmd.Length;
        cmd.Written.Span.CopyTo(copy);
        var first = connection.Send(cmd, "EVALSHA");
        return CompleteAsync(connection, first, copy, length);
    }

    private async Task<RedisValue> CompleteAsync(RedisConnection connection, Task<RedisValue> first, byte[] copy, int length)
    {
        try
        {
            return await first;
        }
        catch (RedisServerException ex) when (ex.ErrorCode == "NOSCRIPT")
        {
            var loaded = await connection.ScriptLoadAsync(Source);
            if (!string.Equals(loaded, Sha1, StringComparison.Ordinal))
            {
                throw new RedisException($"SCRIPT LOAD returned SHA-1 {loaded}, expected {Sha1}.");
            }

            var retry = RespBuffer.RentScratch();
            retry.Write(copy.AsSpan(0, length));
            return await connection.Send(retry, "EVALSHA");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }
}

using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace LlmSecOps.Redis.Protocol;

/// <summary>
/// Incremental RESP2 parser: <see cref="TryParse"/> reads one complete reply or reports that more bytes are
/// needed, leaving the reader where it was. Input is bounded (bulk strings up to 512 MB as in Redis,
/// nesting depth 32) so a hostile or corrupt stream fails with an exception instead of exhausting memory.
/// </summary>
internal static class RespParser
{
    private const int MaxBulkLength = 512 * 1024 * 1024;
    private const int MaxArrayLength = 64 * 1024 * 1024;
    private const int MaxDepth = 32;

    private static readonly RedisValue Ok = RedisValue.FromSimple("OK");
    private static readonly RedisValue Pong = RedisValue.FromSimple("PONG");
    private static readonly RedisValue Queued = RedisValue.FromSimple("QUEUED");

    /// <summary>Parses one reply; returns <see langword="false"/> (reader unchanged) when it is incomplete.</summary>
    /// <exception cref="RedisConnectionException">The stream is not valid RESP2.</exception>
    public static bool TryParse(ref SequenceReader<byte> reader, out RedisValue value)
    {
        var start = reader.Consumed;
        if (TryParseValue(ref reader, 0, out value))
        {
            return true;
        }

        reader.Rewind(reader.Consumed - start);
        value = default;
        return false;
    }

    private static bool TryParseValue(ref SequenceReader<byte> reader, int depth, out RedisValue value)
    {
        value = default;
        if (!reader.TryRead(out var prefix))
        {
            return false;
        }

        switch (prefix)
        {
            case (byte)'+':
            {
                if (!TryReadLine(ref reader, out var line))
                {
                    return false;
                }

                value = line.SequenceEqual("OK"u8) ? Ok
                    : line.SequenceEqual("PONG"u8) ? Pong
                    : line.SequenceEqual("QUEUED"u8) ? Queued
                    : RedisValue.FromSimple(Encoding.UTF8.GetString(line));
                return true;
            }

            case (byte)'-':
            {
                if (!TryReadLine(ref reader, out var line))
                {
                    return false;
                }

                value = RedisValue.FromError(Encoding.UTF8.GetString(line));
                return true;
            }

            case (byte)':':
            {
                if (!TryReadLine(ref reader, out var line))
                {
                    return false;
                }

                value = RedisValue.FromInteger(ParseInteger(line));
                return true;
            }

            case (byte)'$':
            {
                if (!TryReadLine(ref reader, out var line))
                {
                    return false;
                }

                var length = ParseInteger(line);
                if (length == -1)
                {
                    value = RedisValue.Null;
                    return true;
                }

                if (length is < 0 or > MaxBulkLength)
                {
                    throw Protocol($"bulk string length {length}");
                }

                if (reader.Remaining < length + 2)
                {
                    return false;
                }

                var bytes = length == 0 ? [] : new byte[length];
                reader.TryCopyTo(bytes);
                reader.Advance(length);
                if (!reader.IsNext("\r\n"u8, advancePast: true))
                {
                    throw Protocol("bulk string without CRLF");
                }

                value = RedisValue.FromBulk(bytes);
                return true;
            }

            case (byte)'*':
            {
                if (!TryReadLine(ref reader, out var line))
                {
                    return false;
                }

                var count = ParseInteger(line);
                if (count == -1)
                {
                    value = RedisValue.Null;
                    return true;
                }

                if (count is < 0 or > MaxArrayLength || depth >= MaxDepth)
                {
                    throw Protocol($"array of {count} at depth {depth}");
                }

                // Do not trust the count for the allocation before the elements have arrived.
                if (reader.Remaining < count * 3)
                {
                    return false;
                }

                var items = new RedisValue[count];
                for (var i = 0; i < items.Length; i++)
                {
                    if (!TryParseValue(ref reader, depth + 1, out items[i]))
                    {
                        return false;
                    }
                }

                value = RedisValue.FromArray(items);
                return true;
            }

            default:
                throw Protocol($"unexpected type byte 0x{prefix:X2}");
        }
    }

    private static bool TryReadLine(ref SequenceReader<byte> reader, out ReadOnlySpan<byte> line)
    {
        if (!reader.TryReadTo(out line, (byte)'\n'))
        {
            return false;
        }

        if (line.Length == 0 || line[^1] != (byte)'\r')
        {
            throw Protocol("line without CR");
        }

        line = line[..^1];
        return true;
    }

    private static long ParseInteger(ReadOnlySpan<byte> line)
    {
        if (!Utf8Parser.TryParse(line, out long n, out var consumed) || consumed != line.Length)
        {
            throw Protocol("malformed integer");
        }

        return n;
    }

    private static RedisConnectionException Protocol(string what) =>
        new($"Redis protocol error: {what}. The connection is dropped and re-established.");
}

using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace LlmSecOps.Redis.Protocol;

/// <summary>
/// A growable byte buffer rented from <see cref="ArrayPool{T}"/> that RESP2 commands are serialized into:
/// <c>*N\r\n</c> then one <c>$len\r\n...\r\n</c> bulk string per argument, written straight into the buffer.
/// </summary>
internal sealed class RespBuffer : IDisposable
{
    private const int MaxRetainedSize = 1024 * 1024;

    [ThreadStatic]
    private static RespBuffer? t_scratch;

    private byte[] _buffer;
    private int _length;

    public RespBuffer(int initialSize = 4096)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(initialSize);
    }

    public int Length => _length;

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>
    /// A per-thread scratch buffer for building one command. Build and hand it to the connection without an
    /// <c>await</c> in between (the connection copies it under its lock).
    /// </summary>
    public static RespBuffer RentScratch()
    {
        var scratch = t_scratch ??= new RespBuffer(512);
        scratch.Reset();
        return scratch;
    }

    public void Reset()
    {
        _length = 0;
        if (_buffer.Length > MaxRetainedSize)
        {
            // A burst grew the buffer: give the big array back rather than keep it forever.
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(4096);
        }
    }

    public void WriteArrayHeader(int count)
    {
        var span = GetSpan(16);
        span[0] = (byte)'*';
        Utf8Formatter.TryFormat(count, span[1..], out var n);
        span[n + 1] = (byte)'\r';
        span[n + 2] = (byte)'\n';
        _length += n + 3;
    }

    public void WriteBulk(in RedisArg arg)
    {
        switch (arg.Kind)
        {
            case RedisArg.ArgKind.Text:
                WriteBulk(arg.Text);
                break;
            case RedisArg.ArgKind.Int64:
                WriteBulk(arg.Int64);
                break;
            case RedisArg.ArgKind.Double:
                WriteBulk(arg.Double);
                break;
            default:
                WriteBulk(arg.Bytes.Span);
                break;
        }
    }

    public void WriteBulk(string text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        WriteBulkHeader(byteCount);
        var span = GetSpan(byteCount + 2);
        var written = Encoding.UTF8.GetBytes(text, span);
        span[written] = (byte)'\r';
        span[written + 1] = (byte)'\n';
        _length += written + 2;
    }

    public void WriteBulk(ReadOnlySpan<byte> bytes)
    {
        WriteBulkHeader(bytes.Length);
        var span = GetSpan(bytes.Length + 2);
        bytes.CopyTo(span);
        span[bytes.Length] = (byte)'\r';
        span[bytes.Length + 1] = (byte)'\n';
        _length += bytes.Length + 2;
    }

    public void WriteBulk(long value)
    {
        Span<byte> digits = stackalloc byte[24];
        Utf8Formatter.TryFormat(value, digits, out var n);
        WriteBulk(digits[..n]);
    }

    public void WriteBulk(double value)
    {
        Span<byte> digits = stackalloc byte[40];
        if (double.IsPositiveInfinity(value))
        {
            WriteBulk("+inf"u8);
        }
        else if (double.IsNegativeInfinity(value))
        {
            WriteBulk("-inf"u8);
        }
        else
        {
            value.TryFormat(digits, out var n, "R", CultureInfo.InvariantCulture);
            WriteBulk(digits[..n]);
        }
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _length += bytes.Length;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void WriteBulkHeader(int length)
    {
        var span = GetSpan(16);
        span[0] = (byte)'$';
        Utf8Formatter.TryFormat(length, span[1..], out var n);
        span[n + 1] = (byte)'\r';
        span[n + 2] = (byte)'\n';
        _length += n + 3;
    }

    private Span<byte> GetSpan(int sizeHint)
    {
        if (_buffer.Length - _length < sizeHint)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + sizeHint));
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }

            _buffer = bigger;
        }

        return _buffer.AsSpan(_length);
    }
}

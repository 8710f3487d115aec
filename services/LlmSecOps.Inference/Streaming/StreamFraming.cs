using System.Buffers;

namespace LlmSecOps.Inference.Streaming;

/// <summary>The upstream broke the stream protocol (an event or line larger than the limit).</summary>
public sealed class StreamProtocolException : Exception
{
    public StreamProtocolException(string message)
        : base(message)
    {
    }

    public StreamProtocolException()
        : base("The upstream stream is malformed.")
    {
    }

    public StreamProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A growable pooled byte buffer with a consumed prefix.</summary>
internal sealed class PooledBuffer : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(4096);
    private int _start;
    private int _end;

    public ReadOnlySpan<byte> Unread => _buffer.AsSpan(_start, _end - _start);

    public int Length => _end - _start;

    public void Append(ReadOnlySpan<byte> data)
    {
        if (_end + data.Length > _buffer.Length)
        {
            var live = _end - _start;
            if (live + data.Length > _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, live + data.Length));
                _buffer.AsSpan(_start, live).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer, clearArray: true);
                _buffer = bigger;
            }
            else
            {
                _buffer.AsSpan(_start, live).CopyTo(_buffer);
            }

            _start = 0;
            _end = live;
        }

        data.CopyTo(_buffer.AsSpan(_end));
        _end += data.Length;
    }

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = 0;
            _end = 0;
        }
    }

    public void Clear()
    {
        _start = 0;
        _end = 0;
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            // Cleared: it held model output before redaction, which must not linger in the shared pool.
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }
}

/// <summary>
/// Incremental Server-Sent Events framing (WHATWG HTML "event stream interpretation"): feed bytes split anywhere,
/// read complete events' <c>data</c>. Lines end with CRLF, LF or CR; a blank line ends an event; several
/// <c>data:</c> lines join with LF; comments (<c>:</c>) and other fields are skipped. The data returned is valid
/// until the next call.
/// </summary>
public sealed class SseEventReader : IDisposable
{
    private readonly PooledBuffer _input = new();
    private readonly PooledBuffer _data = new();
    private readonly int _maxEventBytes;
    private bool _hasData;
    private bool _dataReturned;

    /// <param name="maxEventBytes">Largest event accepted (default 1 MiB); larger is a <see cref="StreamProtocolException"/>.</param>
    public SseEventReader(int maxEventBytes = 1024 * 1024) => _maxEventBytes = maxEventBytes;

    /// <summary>Adds bytes received from the upstream.</summary>
    public void Append(ReadOnlySpan<byte> chunk) => _input.Append(chunk);

    /// <summary>Reads the next complete event's data; false when more bytes are needed.</summary>
    public bool TryRead(out ReadOnlySpan<byte> data)
    {
        if (_dataReturned)
        {
            _data.Clear();
            _hasData = false;
            _dataReturned = false;
        }

        while (true)
        {
            var unread = _input.Unread;
            var end = unread.IndexOfAny((byte)'\r', (byte)'\n');
            if (end < 0)
            {
                if (unread.Length + _data.Length > _maxEventBytes)
                {
                    throw new StreamProtocolException($"An upstream event exceeds {_maxEventBytes} bytes.");
                }

                data = default;
                return false;
            }

            var terminator = 1;
            if (unread[end] == (byte)'\r')
            {
                if (end + 1 == unread.Length)
                {
                    // CR at the end of what we have: a LF may follow in the next chunk.
                    data = default;
                    return false;
                }

                if (unread[end + 1] == (byte)'\n')
                {
                    terminator = 2;
                }
            }

            var line = unread[..end];
            if (line.IsEmpty)
            {
                _input.Consume(terminator);
                if (_hasData)
                {
                    _dataReturned = true;
                    data = _data.Unread;
                    return true;
                }

                continue;
            }

            if (line.StartsWith("data"u8) && (line.Length == 4 || line[4] == (byte)':'))
            {
                var value = line.Length == 4 ? default : line[5..];
                if (!value.IsEmpty && value[0] == (byte)' ')
                {
                    value = value[1..];
                }

                if (_hasData)
                {
                    _data.Append("\n"u8);
                }

                if (_data.Length + value.Length > _maxEventBytes)
                {
                    throw new StreamProtocolException($"An upstream event exceeds {_maxEventBytes} bytes.");
                }

                _data.Append(value);
                _hasData = true;
            }

            _input.Consume(end + terminator);
        }
    }

    public void Dispose()
    {
        _input.Dispose();
        _data.Dispose();
    }
}

/// <summary>
/// Incremental newline-delimited JSON framing (Ollama's streaming format): feed bytes split anywhere, read complete
/// lines. Blank lines are skipped; a trailing CR is trimmed. The line returned is valid until the next call.
/// </summary>
public sealed class NdjsonLineReader : IDisposable
{
    private readonly PooledBuffer _input = new();
    private readonly int _maxLineBytes;
    private int _pendingConsume;

    /// <param name="maxLineBytes">Largest line accepted (default 1 MiB); larger is a <see cref="StreamProtocolException"/>.</param>
    public NdjsonLineReader(int maxLineBytes = 1024 * 1024) => _maxLineBytes = maxLineBytes;

    /// <summary>Adds bytes received from the upstream.</summary>
    public void Append(ReadOnlySpan<byte> chunk)
    {
        Flush();
        _input.Append(chunk);
    }

    /// <summary>Reads the next complete line; false when more bytes are needed.</summary>
    public bool TryRead(out ReadOnlySpan<byte> line)
    {
        Flush();
        while (true)
        {
            var unread = _input.Unread;
            var end = unread.IndexOf((byte)'\n');
            if (end < 0)
            {
                if (unread.Length > _maxLineBytes)
                {
                    throw new StreamProtocolException($"An upstream line exceeds {_maxLineBytes} bytes.");
                }

                line = default;
                return false;
            }

            var candidate = unread[..end].TrimEnd((byte)'\r');
            if (candidate.Trim(" \t"u8).IsEmpty)
            {
                _input.Consume(end + 1);
                continue;
            }

            _pendingConsume = end + 1;
            line = candidate;
            return true;
        }
    }

    /// <summary>At the end of the stream: a final line without a newline, if any.</summary>
    public bool TryReadRemainder(out ReadOnlySpan<byte> line)
    {
        Flush();
        line = _input.Unread.Trim(" \t\r"u8);
        _input.Clear();
        return !line.IsEmpty;
    }

    private void Flush()
    {
        if (_pendingConsume > 0)
        {
            _input.Consume(_pendingConsume);
            _pendingConsume = 0;
        }
    }

    public void Dispose() => _input.Dispose();
}

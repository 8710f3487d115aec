using System.Buffers;
using System.IO.Pipelines;

namespace LlmSecOps.Simulator.Http;

/// <summary>The request body, read once by <see cref="RequestRecordingMiddleware"/> into a pooled buffer.</summary>
internal sealed class BufferedBody : IDisposable
{
    private byte[] _buffer;

    private BufferedBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, Length);

    public static BufferedBody Empty { get; } = new([], 0);

    public static async Task<BufferedBody> ReadAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        byte[] buffer = [];
        var length = 0;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var data = result.Buffer;
            if (data.Length > 0)
            {
                if (length + data.Length > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(checked((int)Math.Max(length + data.Length, Math.Min(buffer.Length * 2L, int.MaxValue))));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    if (buffer.Length > 0)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }

                    buffer = bigger;
                }

                data.CopyTo(buffer.AsSpan(length));
                length += (int)data.Length;
            }

            reader.AdvanceTo(data.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                break;
            }
        }

        return length == 0 ? Empty : new BufferedBody(buffer, length);
    }

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

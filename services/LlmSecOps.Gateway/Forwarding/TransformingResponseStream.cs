using System.Buffers;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Routing;
using LlmSecOps.Inference.Streaming;

namespace LlmSecOps.Gateway.Forwarding;

/// <summary>How the upstream response body is handled.</summary>
internal enum ResponseMode
{
    /// <summary>Copied unchanged (an upstream error, or a route that does not generate).</summary>
    PassThrough,

    /// <summary>A stream (SSE / NDJSON): transformed chunk by chunk, never buffered.</summary>
    Stream,

    /// <summary>One JSON document: collected (bounded), redacted and accounted once complete.</summary>
    Document,
}

/// <summary>
/// Stands in for the client response body while YARP copies the upstream response: streams pass through the
/// <see cref="ResponseStreamTransformer"/> as they arrive; single documents are collected and processed at the end.
/// </summary>
internal sealed class TransformingResponseStream(Stream inner, InferenceRoute route, IReadOnlyList<Detector>? redaction, long? completionTokenLimit,
    int maxDocumentBytes) : Stream
{
    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private ArrayBufferWriter<byte>? _document;
    private ResponseStreamTransformer? _transformer;
    private long _firstByteTicks;

    public ResponseMode Mode { get; set; } = ResponseMode.PassThrough;

    /// <summary>Accounting of a transformed stream.</summary>
    public ResponseStreamTransformer? Transformer => _transformer;

    /// <summary>Result of a processed document.</summary>
    public CompletedResponse? Document { get; private set; }

    /// <summary>Timestamp (Stopwatch ticks) of the first byte written to the client, 0 if none.</summary>
    public long FirstByteTicks => _firstByteTicks;

    /// <summary>Timestamp (Stopwatch ticks) of the last bytes received from the upstream (creation time before any).</summary>
    public long LastWriteTicks { get; private set; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>True when a document exceeded the bound and was cut off.</summary>
    public bool Oversized { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Synchronous writes are not used.");

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        LastWriteTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        switch (Mode)
        {
            case ResponseMode.Stream:
                _transformer ??= new ResponseStreamTransformer(route, redaction, completionTokenLimit);
                if (_transformer.IsFinished)
                {
                    return;
                }

                _transformer.Process(buffer.Span, _output);
                await DrainAsync(cancellationToken);
                break;
            case ResponseMode.Document:
                _document ??= new ArrayBufferWriter<byte>(Math.Min(maxDocumentBytes, 64 * 1024));
                if (_document.WrittenCount + buffer.Length > maxDocumentBytes)
                {
                    Oversized = true;
                    return;
                }

                _document.Write(buffer.Span);
                break;
            default:
                MarkFirstByte();
                await inner.WriteAsync(buffer, cancellationToken);
                break;
        }
    }

    /// <summary>The upstream body ended (or failed): writes what is still held and the final error frame if one is due.</summary>
    public async Task CompleteAsync(string? failure, CancellationToken cancellationToken)
    {
        if (Mode == ResponseMode.Stream)
        {
            _transformer ??= new ResponseStreamTransformer(route, redaction, completionTokenLimit);
            if (failure is null)
            {
                _transformer.Complete(_output);
            }
            else
            {
                _transformer.Fail(failure, _output);
            }

            await DrainAsync(cancellationToken);
        }
        else if (Mode == ResponseMode.Document && _document is not null && !Oversized && failure is null)
        {
            Document = CompletionResponse.Process(route, _document.WrittenMemory, redaction);
            MarkFirstByte();
            await inner.WriteAsync(Document.Body, cancellationToken);
        }
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (_output.WrittenCount == 0)
        {
            return;
        }

        MarkFirstByte();
        await inner.WriteAsync(_output.WrittenMemory, cancellationToken);
        await inner.FlushAsync(cancellationToken);
        _output.ResetWrittenCount();
    }

    private void MarkFirstByte()
    {
        if (_firstByteTicks == 0)
        {
            _firstByteTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _transformer?.Dispose();
        }

        base.Dispose(disposing);
    }
}

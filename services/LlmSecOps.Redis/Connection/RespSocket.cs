using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis.Connection;

/// <summary>
/// One TCP (or TLS) connection, from connect to death; never reused. Commands are appended to an output buffer
/// and their <see cref="IPendingOperation"/> to a FIFO queue under one lock, so wire order and queue order agree.
/// A writer loop sends whatever accumulated in one write (pipelining/batching); a reader loop parses replies and
/// completes the queue head. Any I/O or protocol failure faults the socket: every pending operation fails with
/// <see cref="RedisConnectionException"/> and the owner is told to reconnect with a new socket and a new queue.
/// </summary>
internal sealed class RespSocket : IDisposable
{
    private readonly Lock _lock = new();
    private readonly ConcurrentQueue<IPendingOperation> _pending = new();
    private readonly SemaphoreSlim _writeSignal = new(0);
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly string _endPoint;
    private readonly Action<RespSocket, Exception> _onFault;
    private RespBuffer _current = new();
    private RespBuffer _spare = new();
    private bool _writerScheduled;
    private bool _faulted;
    private long _lastReadTicks = Environment.TickCount64;
    private long _lastWriteTicks = Environment.TickCount64;

    private RespSocket(Socket socket, Stream stream, string endPoint, Action<RespSocket, Exception> onFault)
    {
        _socket = socket;
        _stream = stream;
        _endPoint = endPoint;
        _onFault = onFault;
    }

    /// <summary>Called on the reader thread for out-of-band pushes (pub/sub messages); return true if handled.</summary>
    public Func<RedisValue, bool>? PushHandler { get; init; }

    public bool IsFaulted => Volatile.Read(ref _faulted);

    public Exception? FaultException { get; private set; }

    public long LastReadTicks => Volatile.Read(ref _lastReadTicks);

    public long LastWriteTicks => Volatile.Read(ref _lastWriteTicks);

    public int PendingCount => _pending.Count;

    /// <summary>Connects TCP (+TLS) and starts the loops; the caller performs the AUTH/SELECT handshake.</summary>
    public static async Task<RespSocket> ConnectAsync(
        RedisOptions options, Action<RespSocket, Exception> onFault, Func<RedisValue, bool>? pushHandler, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            await socket.ConnectAsync(options.Host, options.Port, ct);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (options.Ssl)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = options.SslHost ?? options.Host,
                        RemoteCertificateValidationCallback = CreateValidator(options),
                    },
                    ct);
            }
        }
        catch
        {
            if (stream is not null)
            {
                await stream.DisposeAsync();
            }

            socket.Dispose();
            throw;
        }

        var resp = new RespSocket(socket, stream, options.EndPointText, onFault) { PushHandler = pushHandler };
        _ = Task.Run(resp.ReadLoopAsync, CancellationToken.None);
        _ = Task.Run(resp.WriteLoopAsync, CancellationToken.None);
        return resp;
    }

    /// <summary>Queues a command built in <paramref name="command"/>; false if the socket is already dead.</summary>
    public bool TryEnqueue(RespBuffer command, IPendingOperation operation)
    {
        bool signal;
        lock (_lock)
        {
            if (_faulted)
            {
                return false;
            }

            _current.Write(command.Written.Span);
            _pending.Enqueue(operation);
            signal = !_writerScheduled;
            _writerScheduled = true;
        }

        if (signal)
        {
            _writeSignal.Release();
        }

        return true;
    }

    /// <summary>
    /// Fails every waiting operation whose deadline passed (they stay queued to absorb their late replies) and
    /// returns the command name at the queue head when the head itself is overdue, else null.
    /// </summary>
    public string? ExpireOverdue(long now, TimeSpan timeout, out int expired)
    {
        expired = 0;
        if (!_pending.TryPeek(out var head) || (head.DeadlineTicks > now && !head.IsCompleted))
        {
            return null;
        }

        foreach (var op in _pending)
        {
            if (op.IsCompleted)
            {
                continue;
            }

            if (op.DeadlineTicks > now)
            {
                break;
            }

            if (op.Fail(new RedisTimeoutException(
                $"Redis at {_endPoint} did not answer {op.Command} in time (command timeout {timeout.TotalMilliseconds:0} ms, " +
                $"{_pending.Count} commands in flight). The connection is kept; the late reply will be discarded.")))
            {
                expired++;
            }
        }

        return head.DeadlineTicks <= now ? head.Command : null;
    }

    /// <summary>Kills the connection and fails every pending operation. Idempotent.</summary>
    public void Fault(Exception reason)
    {
        lock (_lock)
        {
            if (_faulted)
            {
                return;
            }

            _faulted = true;
        }

        var error = reason as RedisConnectionException ?? new RedisConnectionException(
            $"The connection to Redis at {_endPoint} was lost ({reason.GetType().Name}: {reason.Message}); " +
            "commands in flight may or may not have been executed.",
            reason);
        FaultException = error;
        try
        {
            _stream.Dispose();
        }
        catch (Exception)
        {
            // Already broken: nothing more to release.
        }

        _socket.Dispose();
        while (_pending.TryDequeue(out var op))
        {
            op.Fail(error);
        }

        _writeSignal.Release();
        _onFault(this, error);
    }

    /// <summary>Closes the socket (same as <see cref="Fault"/> with a "closed" reason).</summary>
    public void Dispose() => Fault(new RedisConnectionException($"The connection to Redis at {_endPoint} was closed."));

    private async Task WriteLoopAsync()
    {
        try
        {
            while (true)
            {
                await _writeSignal.WaitAsync();
                while (true)
                {
                    RespBuffer batch;
                    lock (_lock)
                    {
                        if (_faulted)
                        {
                            return;
                        }

                        if (_current.Length == 0)
                        {
                            _writerScheduled = false;
                            break;
                        }

                        batch = _current;
                        _current = _spare;
                    }

                    await _stream.WriteAsync(batch.Written);
                    Volatile.Write(ref _lastWriteTicks, Environment.TickCount64);
                    batch.Reset();
                    _spare = batch;
                }
            }
        }
        catch (Exception ex)
        {
            Fault(ex);
        }
        finally
        {
            if (_faulted)
            {
                lock (_lock)
                {
                    _current.Dispose();
                    _spare.Dispose();
                }
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                Volatile.Write(ref _lastReadTicks, Environment.TickCount64);
                var buffer = result.Buffer;
                var consumed = ProcessReplies(buffer);
                reader.AdvanceTo(consumed, buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    throw new RedisConnectionException(
                        $"Redis at {_endPoint} closed the connection; commands in flight may or may not have been executed.");
                }
            }
        }
        catch (Exception ex)
        {
            Fault(ex);
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }

    private SequencePosition ProcessReplies(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (RespParser.TryParse(ref reader, out var reply))
        {
            if (PushHandler is { } push && push(reply))
            {
                continue;
            }

            if (!_pending.TryDequeue(out var op))
            {
                if (_faulted)
                {
                    break;
                }

                throw new RedisConnectionException($"Redis at {_endPoint} sent a reply no command was waiting for; dropping the connection.");
            }

            op.Complete(reply);
        }

        return reader.Position;
    }

    private static RemoteCertificateValidationCallback CreateValidator(RedisOptions options)
    {
        if (options.CertificateValidation is { } custom)
        {
            return custom;
        }

        X509Certificate2Collection? extraRoots = null;
        if (options.SslCaFile is { } caFile)
        {
            extraRoots = [];
            extraRoots.ImportFromPemFile(caFile);
        }

        return (_, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            // Only an untrusted chain may be rescued, and only by the configured CA: a name mismatch never is.
            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || extraRoots is null || certificate is null)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        };
    }
}

using System.Diagnostics;
using LlmSecOps.Redis.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlmSecOps.Redis.Connection;

/// <summary>
/// One logical connection that survives its sockets: it owns the current <see cref="RespSocket"/>, replaces it
/// after a failure (exponential backoff with jitter, AUTH, SELECT, then the owner's re-subscription), enforces
/// per-command timeouts and sends keep-alive PINGs. Commands sent while no socket is up fail at once.
/// </summary>
internal sealed class RedisLane : IAsyncDisposable
{
    private const int TimerPeriodMs = 100;

    private readonly RedisOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _disposeCts = new();
    private readonly SemaphoreSlim _reconnectSignal = new(0);
    private readonly Lock _stateLock = new();
    private readonly Timer _timer;
    private readonly TagList _tags;
    private RespSocket? _socket;
    private volatile RedisConnectionState _state = RedisConnectionState.Connecting;
    private Exception? _lastError;
    private bool _everConnected;
    private Task? _supervisor;

    public RedisLane(RedisOptions options, RedisConnectionKind kind)
    {
        _options = options;
        Kind = kind;
        _tags = RedisMetrics.Tags(kind, options);
        _logger = (ILogger?)options.LoggerFactory?.CreateLogger<RedisConnection>() ?? NullLogger.Instance;
        _timer = new Timer(static s => ((RedisLane)s!).OnTimer(), this, TimerPeriodMs, TimerPeriodMs);
    }

    public event Action<RedisLane, RedisConnectionEventArgs>? Connected;

    public event Action<RedisLane, RedisConnectionEventArgs>? Disconnected;

    public RedisConnectionKind Kind { get; }

    public RedisConnectionState State => _state;

    public ILogger Logger => _logger;

    /// <summary>Routes out-of-band pushes (pub/sub messages) away from the reply queue.</summary>
    public Func<RedisValue, bool>? PushHandler { get; init; }

    /// <summary>Runs on every new socket after the handshake and before it is used (re-subscription).</summary>
    public Func<RedisLane, RespSocket, CancellationToken, Task>? AfterHandshake { get; init; }

    /// <summary>First connect. Throws when it fails and <see cref="RedisOptions.AbortOnConnectFail"/> is set.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        try
        {
            await ConnectOnceAsync(ct);
        }
        catch (Exception ex) when (!_options.AbortOnConnectFail && !ct.IsCancellationRequested)
        {
            lock (_stateLock)
            {
                _lastError = ex;
                _state = RedisConnectionState.Disconnected;
            }

            Log.ReconnectFailed(_logger, Kind, 0, _options.EndPointText, ex.Message);
            _reconnectSignal.Release();
        }

        _supervisor = Task.Run(SuperviseAsync, CancellationToken.None);
    }

    /// <summary>Sends a command built in <paramref name="command"/> on the current socket.</summary>
    public Task<RedisValue> Send(RespBuffer command, string name, TimeSpan timeout, CancellationToken ct = default) =>
        Send(command, name, timeout, Replies.Raw, ct);

    /// <summary>Sends a command whose reply is converted by <paramref name="convert"/> on completion.</summary>
    public Task<T> Send<T>(RespBuffer command, string name, TimeSpan timeout, ReplyConverter<T> convert, CancellationToken ct = default)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(ct);
        }

        var socket = Volatile.Read(ref _socket);
        if (socket is null)
        {
            return Task.FromException<T>(NotConnected());
        }

        var op = new PendingOperation<T>(name, Environment.TickCount64 + (long)timeout.TotalMilliseconds, convert);
        if (!socket.TryEnqueue(command, op))
        {
            return Task.FromException<T>(NotConnected());
        }

        if (ct.CanBeCanceled)
        {
            // The operation stays queued so its reply is still consumed by it; only the caller stops waiting.
            var registration = ct.UnsafeRegister(static s => ((IPendingOperation)s!).Cancel(), op);
            op.Task.ContinueWith(
                static (_, r) => ((CancellationTokenRegistration)r!).Dispose(),
                registration,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        return op.Task;
    }

    /// <summary>Sends on a given socket (handshake and re-subscription, before the socket is current).</summary>
    public Task<RedisValue> SendOn(RespSocket socket, RespBuffer command, string name)
    {
        var op = new PendingOperation<RedisValue>(name, Environment.TickCount64 + (long)_options.ConnectTimeout.TotalMilliseconds, Replies.Raw);
        return socket.TryEnqueue(command, op)
            ? op.Task
            : Task.FromException<RedisValue>(socket.FaultException ?? NotConnected());
    }

    public async ValueTask DisposeAsync()
    {
        RespSocket? socket;
        lock (_stateLock)
        {
            if (_state == RedisConnectionState.Disposed)
            {
                return;
            }

            _state = RedisConnectionState.Disposed;
            socket = _socket;
            _socket = null;
        }

        await _disposeCts.CancelAsync();
        await _timer.DisposeAsync();
        socket?.Fault(new RedisConnectionException($"The Redis connection to {_options.EndPointText} has been disposed."));
        if (_supervisor is not null)
        {
            try
            {
                await _supervisor;
            }
            catch (OperationCanceledException)
            {
                // Expected on dispose.
            }
        }

        _disposeCts.Dispose();
    }

    private RedisConnectionException NotConnected()
    {
        var state = State;
        if (state == RedisConnectionState.Disposed)
        {
            return new RedisConnectionException($"The Redis connection to {_options.EndPointText} has been disposed.");
        }

        var last = Volatile.Read(ref _lastError);
        var message = $"Redis at {_options.EndPointText} is not available ({state}" +
            (last is null ? "" : $"; last error: {last.Message}") + "). The client reconnects in the background; retry later.";
        return last is RedisAuthenticationException
            ? new RedisAuthenticationException(message, last)
            : new RedisConnectionException(message, last);
    }

    private async Task ConnectOnceAsync(CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposeCts.Token);
        cts.CancelAfter(_options.ConnectTimeout);
        RespSocket? socket = null;
        try
        {
            socket = await RespSocket.ConnectAsync(_options, OnSocketFault, PushHandler, cts.Token);
            await HandshakeAsync(socket, cts.Token);
            if (AfterHandshake is not null)
            {
                await AfterHandshake(this, socket, cts.Token);
            }
        }
        catch (Exception ex)
        {
            socket?.Fault(ex);
            if (ex is RedisAuthenticationException)
            {
                throw;
            }

            if (ex is OperationCanceledException && !ct.IsCancellationRequested && !_disposeCts.IsCancellationRequested)
            {
                throw new RedisConnectionException(
                    $"Could not connect to Redis at {_options.EndPointText} within {_options.ConnectTimeout.TotalMilliseconds:0} ms.", ex);
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            throw new RedisConnectionException($"Could not connect to Redis at {_options.EndPointText}: {ex.Message}", ex);
        }

        bool isReconnect;
        lock (_stateLock)
        {
            if (_state == RedisConnectionState.Disposed || socket.IsFaulted)
            {
                socket.Fault(new RedisConnectionException("Connection closed during setup."));
                throw new RedisConnectionException(
                    $"The connection to Redis at {_options.EndPointText} closed during setup{(_state == RedisConnectionState.Disposed ? " (disposed)" : "")}.");
            }

            _socket = socket;
            _state = RedisConnectionState.Connected;
            _lastError = null;
            isReconnect = _everConnected;
            _everConnected = true;
        }

        RedisMetrics.Connects.Add(1, in _tags);
        Log.Connected(_logger, Kind, _options.EndPointText, isReconnect);
        Raise(Connected, new RedisConnectionEventArgs(Kind, _options.EndPointText, isReconnect, null));
    }

    private async Task HandshakeAsync(RespSocket socket, CancellationToken ct)
    {
        Task<RedisValue>? auth = null;
        Task<RedisValue>? select = null;
        Task<RedisValue>? name = null;
        RespBuffer cmd;
        if (_options.Password is not null)
        {
            cmd = RespBuffer.RentScratch();
            cmd.WriteArrayHeader(_options.User is null ? 2 : 3);
            cmd.WriteBulk("AUTH"u8);
            if (_options.User is not null)
            {
                cmd.WriteBulk(_options.User);
            }

            cmd.WriteBulk(_options.Password);
            auth = SendOn(socket, cmd, "AUTH");
        }

        if (_options.Database != 0)
        {
            cmd = RespBuffer.RentScratch();
            cmd.WriteArrayHeader(2);
            cmd.WriteBulk("SELECT"u8);
            cmd.WriteBulk(_options.Database);
            select = SendOn(socket, cmd, "SELECT");
        }

        if (!string.IsNullOrEmpty(_options.ClientName))
        {
            cmd = RespBuffer.RentScratch();
            cmd.WriteArrayHeader(3);
            cmd.WriteBulk("CLIENT"u8);
            cmd.WriteBulk("SETNAME"u8);
            cmd.WriteBulk(_options.ClientName);
            name = SendOn(socket, cmd, "CLIENT SETNAME");
        }

        cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(1);
        cmd.WriteBulk("PING"u8);
        var ping = SendOn(socket, cmd, "PING");

        // When one step fails the others fail too and are not awaited: observe them so they are not reported
        // as unobserved task exceptions later.
        foreach (var step in new[] { auth, select, name, ping })
        {
            step?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        if (auth is not null)
        {
            try
            {
                await auth.WaitAsync(ct);
            }
            catch (RedisServerException ex)
            {
                // The server's text (e.g. "WRONGPASS invalid username-password pair") never contains the password.
                throw new RedisAuthenticationException(
                    $"Redis at {_options.EndPointText} refused the credentials: {ex.Message}", ex);
            }
        }

        if (select is not null)
        {
            await select.WaitAsync(ct);
        }

        if (name is not null)
        {
            await name.WaitAsync(ct);
        }

        try
        {
            await ping.WaitAsync(ct);
        }
        catch (RedisServerException ex) when (ex.ErrorCode is "NOAUTH" or "WRONGPASS")
        {
            throw new RedisAuthenticationException(
                $"Redis at {_options.EndPointText} requires authentication ({ex.ErrorCode}); set password= in the connection string.", ex);
        }
    }

    private void OnSocketFault(RespSocket socket, Exception error)
    {
        lock (_stateLock)
        {
            if (!ReferenceEquals(_socket, socket))
            {
                return;
            }

            _socket = null;
            _lastError = error;
            if (_state == RedisConnectionState.Disposed)
            {
                return;
            }

            _state = RedisConnectionState.Disconnected;
        }

        RedisMetrics.ConnectionsLost.Add(1, in _tags);
        Log.ConnectionLost(_logger, Kind, _options.EndPointText, error);
        Raise(Disconnected, new RedisConnectionEventArgs(Kind, _options.EndPointText, true, error));
        _reconnectSignal.Release();
    }

    private async Task SuperviseAsync()
    {
        var token = _disposeCts.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await _reconnectSignal.WaitAsync(token);
                if (Volatile.Read(ref _socket) is { IsFaulted: false })
                {
                    continue;
                }

                for (var attempt = 0; ; attempt++)
                {
                    await Task.Delay(Backoff(attempt), token);
                    lock (_stateLock)
                    {
                        if (_state == RedisConnectionState.Disposed)
                        {
                            return;
                        }

                        _state = RedisConnectionState.Connecting;
                    }

                    try
                    {
                        await ConnectOnceAsync(token);
                        break;
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        lock (_stateLock)
                        {
                            _lastError = ex;
                            if (_state != RedisConnectionState.Disposed)
                            {
                                _state = RedisConnectionState.Disconnected;
                            }
                        }

                        Log.ReconnectFailed(_logger, Kind, attempt + 1, _options.EndPointText, ex.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        var min = _options.ReconnectMinDelay.TotalMilliseconds;
        var max = _options.ReconnectMaxDelay.TotalMilliseconds;
        var delay = Math.Min(max, min * Math.Pow(2, Math.Min(attempt, 20)));
        // ±20% jitter so that many clients do not reconnect in lock-step after a server restart.
        return TimeSpan.FromMilliseconds(delay * (0.8 + (0.4 * Random.Shared.NextDouble())));
    }

    private void OnTimer()
    {
        var socket = Volatile.Read(ref _socket);
        if (socket is null || socket.IsFaulted)
        {
            return;
        }

        var now = Environment.TickCount64;
        var commandTimeoutMs = (long)_options.CommandTimeout.TotalMilliseconds;
        var overdue = socket.ExpireOverdue(now, _options.CommandTimeout, out var expired);
        if (expired > 0)
        {
            RedisMetrics.Timeouts.Add(expired, in _tags);
        }

        if (overdue is not null)
        {
            var silence = now - socket.LastReadTicks;
            if (silence >= commandTimeoutMs)
            {
                // Nothing at all came back for a whole command timeout while a command waited: the peer is gone
                // (or black-holed) without a FIN/RST. Drop the socket so that the reconnect loop takes over.
                Log.Unresponsive(_logger, _options.EndPointText, silence, overdue);
                socket.Fault(new RedisConnectionException(
                    $"Redis at {_options.EndPointText} sent nothing for {silence} ms while {overdue} waited; the connection was dropped."));
            }

            return;
        }

        var keepAliveMs = (long)_options.KeepAliveInterval.TotalMilliseconds;
        if (keepAliveMs > 0 && socket.PendingCount == 0 && now - socket.LastWriteTicks > keepAliveMs)
        {
            var cmd = RespBuffer.RentScratch();
            cmd.WriteArrayHeader(1);
            cmd.WriteBulk("PING"u8);
            var op = new PendingOperation<RedisValue>("PING", now + commandTimeoutMs, Replies.Raw);
            if (socket.TryEnqueue(cmd, op))
            {
                // Keep-alive result is only observed to keep the task from going unobserved.
                op.Task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }
        }
    }

    private void Raise(Action<RedisLane, RedisConnectionEventArgs>? handler, RedisConnectionEventArgs args)
    {
        if (handler is null)
        {
            return;
        }

        foreach (var d in handler.GetInvocationList())
        {
            try
            {
                ((Action<RedisLane, RedisConnectionEventArgs>)d)(this, args);
            }
            catch (Exception ex)
            {
                Log.EventHandlerFailed(_logger, ex);
            }
        }
    }
}

using System.Collections.Frozen;
using LlmSecOps.Redis.Connection;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

/// <summary>
/// A thread-safe Redis client over one pipelined, multiplexed RESP2 connection: any number of callers send
/// commands concurrently; they are written in batches and their replies matched in FIFO order. The connection
/// reconnects on its own (exponential backoff with jitter, re-AUTH, re-SELECT); while it is down, commands fail
/// at once with <see cref="RedisConnectionException"/>, and commands in flight when it dropped fail with it too —
/// a reply is never handed to another command. Blocking stream reads use a second, dedicated connection and
/// pub/sub a third (both created on first use), so neither stalls ordinary commands.
/// </summary>
/// <remarks>Keys are passed as given: apply <see cref="RedisOptions.KeyPrefix"/> yourself.</remarks>
public sealed partial class RedisConnection : IAsyncDisposable
{
    // Commands that would change the state of the shared connection for every other caller, or turn it into
    // something that no longer answers one reply per command.
    private static readonly FrozenSet<string> RefusedCommands = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",
        "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "QUIT", "RESET", "HELLO", "AUTH", "SYNC", "PSYNC");

    private static readonly FrozenSet<string> BlockingCommands = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF");

    private readonly RedisOptions _options;
    private readonly RedisLane _interactive;
    private readonly Lock _laneLock = new();
    private Task<RedisLane>? _blocking;
    private Task<RedisLane>? _subscriber;
    private int _disposed;

    private RedisConnection(RedisOptions options)
    {
        _options = options;
        _interactive = new RedisLane(options, RedisConnectionKind.Interactive);
        _interactive.Connected += OnLaneConnected;
        _interactive.Disconnected += OnLaneDisconnected;
    }

    /// <summary>A connection (any lane) came up; <see cref="RedisConnectionEventArgs.IsReconnect"/> tells a reconnect.</summary>
    public event EventHandler<RedisConnectionEventArgs>? Connected;

    /// <summary>A connection (any lane) was lost; the client is reconnecting.</summary>
    public event EventHandler<RedisConnectionEventArgs>? Disconnected;

    /// <summary>
    /// The pub/sub connection came back after a loss and every channel is subscribed again. Messages published
    /// while it was down were NOT received: resynchronise whatever state they carry.
    /// </summary>
    public event EventHandler<RedisConnectionEventArgs>? SubscriptionsRestored;

    /// <summary>A copy of the options in use (never exposes a way to change them).</summary>
    public RedisOptions Options => _options.Clone();

    /// <summary>State of the interactive connection.</summary>
    public RedisConnectionState State => _interactive.State;

    /// <summary><see langword="true"/> while the interactive connection is up.</summary>
    public bool IsConnected => State == RedisConnectionState.Connected;

    /// <summary>Connects using a connection string in any form <see cref="RedisOptions.Parse"/> accepts.</summary>
    /// <exception cref="FormatException">The connection string is malformed.</exception>
    /// <exception cref="RedisConnectionException">The first attempt failed and <c>abortConnect</c> is not <c>false</c>.</exception>
    public static Task<RedisConnection> ConnectAsync(string connectionString, CancellationToken cancellationToken = default) =>
        ConnectAsync(RedisOptions.Parse(connectionString), cancellationToken);

    /// <summary>Connects. With <see cref="RedisOptions.AbortOnConnectFail"/> off this returns even when the server is down.</summary>
    /// <exception cref="RedisConnectionException">The first attempt failed and <see cref="RedisOptions.AbortOnConnectFail"/> is set.</exception>
    public static async Task<RedisConnection> ConnectAsync(RedisOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Clone();
        options.Validate();
        var connection = new RedisConnection(options);
        try
        {
            await connection._interactive.StartAsync(cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return connection;
    }

    /// <summary>
    /// Sends any command and returns its raw reply. Subcommands may be given in <paramref name="command"/>
    /// (<c>"SCRIPT FLUSH"</c>) or as arguments. Commands that would alter the shared connection
    /// (<c>SELECT</c>, <c>MULTI</c>, <c>SUBSCRIBE</c>, <c>MONITOR</c>...) are refused; blocking commands must go
    /// through <see cref="ExecuteBlockingAsync"/>.
    /// </summary>
    /// <exception cref="RedisServerException">The server answered with an error.</exception>
    /// <exception cref="RedisConnectionException">Not connected, or the connection dropped before the reply.</exception>
    /// <exception cref="RedisTimeoutException">No reply within <see cref="RedisOptions.CommandTimeout"/>.</exception>
    public Task<RedisValue> ExecuteAsync(string command, params ReadOnlySpan<RedisArg> args)
    {
        var name = CheckCommand(command, args, blocking: false);
        return _interactive.Send(BuildCommand(command, args), name, _options.CommandTimeout);
    }

    /// <summary>As <see cref="ExecuteAsync(string, ReadOnlySpan{RedisArg})"/>, with cancellation (the command is still
    /// sent and its reply consumed; only the wait is cancelled).</summary>
    public Task<RedisValue> ExecuteAsync(string command, ReadOnlySpan<RedisArg> args, CancellationToken cancellationToken)
    {
        var name = CheckCommand(command, args, blocking: false);
        return _interactive.Send(BuildCommand(command, args), name, _options.CommandTimeout, cancellationToken);
    }

    /// <summary>
    /// Sends a blocking command (<c>BLPOP</c>, <c>XREAD ... BLOCK</c>...) on the dedicated blocking connection; the
    /// reply may take up to <paramref name="maxBlock"/> plus the command timeout. Blocking commands are served one
    /// after another on that connection; use separate <see cref="RedisConnection"/>s for parallel blocking readers.
    /// </summary>
    public Task<RedisValue> ExecuteBlockingAsync(TimeSpan maxBlock, string command, params ReadOnlySpan<RedisArg> args)
    {
        var name = CheckCommand(command, args, blocking: true);
        return SendBlocking(BuildCommand(command, args), name, maxBlock, default);
    }

    /// <summary>Closes every connection; pending commands fail with <see cref="RedisConnectionException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _interactive.DisposeAsync();
        Task<RedisLane>? blocking, subscriber;
        lock (_laneLock)
        {
            blocking = _blocking;
            subscriber = _subscriber;
        }

        foreach (var lane in new[] { blocking, subscriber })
        {
            if (lane is null)
            {
                continue;
            }

            try
            {
                await (await lane).DisposeAsync();
            }
            catch (Exception)
            {
                // The lane never started; nothing to close.
            }
        }
    }

    internal Task<RedisValue> Send(RespBuffer command, string name) =>
        _interactive.Send(command, name, _options.CommandTimeout);

    internal Task<RedisValue> Send(RespBuffer command, string name, CancellationToken cancellationToken) =>
        _interactive.Send(command, name, _options.CommandTimeout, cancellationToken);

    internal Task<T> Send<T>(RespBuffer command, string name, ReplyConverter<T> convert) =>
        _interactive.Send(command, name, _options.CommandTimeout, convert);

    internal Task<RedisValue> SendBlocking(RespBuffer command, string name, TimeSpan maxBlock, CancellationToken cancellationToken)
    {
        var timeout = maxBlock + _options.CommandTimeout;
        if (Volatile.Read(ref _blocking) is { IsCompletedSuccessfully: true } ready)
        {
            return ready.Result.Send(command, name, timeout, cancellationToken);
        }

        // First use: copy the command before starting the lane — the scratch buffer belongs to this thread and
        // the lane's handshake (which may run synchronously here) reuses it; the bytes must also outlive the await.
        var bytes = command.Written.ToArray();
        var laneTask = GetLane(ref _blocking, RedisConnectionKind.Blocking, null, null);
        return SendLater(laneTask, bytes, name, timeout, cancellationToken);

        static async Task<RedisValue> SendLater(Task<RedisLane> laneTask, byte[] bytes, string name, TimeSpan timeout, CancellationToken ct)
        {
            var lane = await laneTask.WaitAsync(ct);
            var buffer = RespBuffer.RentScratch();
            buffer.Write(bytes);
            return await lane.Send(buffer, name, timeout, ct);
        }
    }

    private Task<RedisLane> GetLane(ref Task<RedisLane>? slot, RedisConnectionKind kind, Func<RedisValue, bool>? push, Func<RedisLane, RespSocket, CancellationToken, Task>? afterHandshake)
    {
        var existing = Volatile.Read(ref slot);
        if (existing is not null)
        {
            return existing;
        }

        lock (_laneLock)
        {
            if (slot is not null)
            {
                return slot;
            }

            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            var options = _options.Clone();
            // Secondary lanes never throw on their first attempt: they exist from now on and keep reconnecting.
            options.AbortOnConnectFail = false;
            var lane = new RedisLane(options, kind) { PushHandler = push, AfterHandshake = afterHandshake };
            lane.Connected += OnLaneConnected;
            lane.Disconnected += OnLaneDisconnected;
            slot = StartLaneAsync(lane);
            return slot;
        }

        static async Task<RedisLane> StartLaneAsync(RedisLane lane)
        {
            await lane.StartAsync(CancellationToken.None);
            return lane;
        }
    }

    private void OnLaneConnected(RedisLane lane, RedisConnectionEventArgs args)
    {
        Connected?.Invoke(this, args);
        if (lane.Kind == RedisConnectionKind.Subscriber && args.IsReconnect)
        {
            SubscriptionsRestored?.Invoke(this, args);
        }
    }

    private void OnLaneDisconnected(RedisLane lane, RedisConnectionEventArgs args) => Disconnected?.Invoke(this, args);

    private static string CheckCommand(string command, ReadOnlySpan<RedisArg> args, bool blocking)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        var space = command.IndexOf(' ');
        var name = space < 0 ? command : command[..space];
        if (RefusedCommands.Contains(name))
        {
            throw new ArgumentException(
                $"{name.ToUpperInvariant()} would change the shared, multiplexed connection for every caller. " +
                "Use SubscribeAsync for pub/sub, a Lua script (RedisScript) for atomic multi-key work, and the database number in the connection string.",
                nameof(command));
        }

        if (!blocking && IsBlocking(name, args))
        {
            throw new ArgumentException(
                $"{name.ToUpperInvariant()} blocks the connection it runs on; use ExecuteBlockingAsync or XReadGroupAsync, which use a dedicated connection.",
                nameof(command));
        }

        return name;
    }

    private static bool IsBlocking(string name, ReadOnlySpan<RedisArg> args)
    {
        if (BlockingCommands.Contains(name))
        {
            return true;
        }

        if (name.Equals("XREAD", StringComparison.OrdinalIgnoreCase) || name.Equals("XREADGROUP", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var arg in args)
            {
                if (arg.Kind == RedisArg.ArgKind.Text && arg.Text.Equals("BLOCK", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static RespBuffer BuildCommand(string command, ReadOnlySpan<RedisArg> args)
    {
        var buffer = RespBuffer.RentScratch();
        if (command.Contains(' '))
        {
            var parts = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            buffer.WriteArrayHeader(parts.Length + args.Length);
            foreach (var part in parts)
            {
                buffer.WriteBulk(part);
            }
        }
        else
        {
            buffer.WriteArrayHeader(1 + args.Length);
            buffer.WriteBulk(command);
        }

        foreach (ref readonly var arg in args)
        {
            buffer.WriteBulk(arg);
        }

        return buffer;
    }
}

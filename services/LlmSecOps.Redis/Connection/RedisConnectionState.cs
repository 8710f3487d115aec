namespace LlmSecOps.Redis;

/// <summary>State of a <see cref="RedisConnection"/>.</summary>
public enum RedisConnectionState
{
    /// <summary>Connecting or re-connecting (TCP, TLS, AUTH, SELECT); commands fail fast meanwhile.</summary>
    Connecting,

    /// <summary>Ready: commands are sent.</summary>
    Connected,

    /// <summary>The connection was lost or never made; a background loop reconnects with backoff.</summary>
    Disconnected,

    /// <summary>Disposed; nothing works any more.</summary>
    Disposed,
}

/// <summary>Which of a <see cref="RedisConnection"/>'s sockets an event is about.</summary>
public enum RedisConnectionKind
{
    /// <summary>The multiplexed connection every ordinary command uses.</summary>
    Interactive,

    /// <summary>The dedicated connection for blocking reads (<c>XREADGROUP ... BLOCK</c>).</summary>
    Blocking,

    /// <summary>The dedicated pub/sub connection.</summary>
    Subscriber,
}

/// <summary>Arguments of <see cref="RedisConnection.Connected"/>, <see cref="RedisConnection.Disconnected"/> and
/// <see cref="RedisConnection.SubscriptionsRestored"/>.</summary>
public sealed class RedisConnectionEventArgs : EventArgs
{
    internal RedisConnectionEventArgs(RedisConnectionKind kind, string endPoint, bool isReconnect, Exception? exception)
    {
        Kind = kind;
        EndPoint = endPoint;
        IsReconnect = isReconnect;
        Exception = exception;
    }

    /// <summary>Which socket.</summary>
    public RedisConnectionKind Kind { get; }

    /// <summary><c>host:port</c> of the server.</summary>
    public string EndPoint { get; }

    /// <summary><see langword="true"/> when this connection had been up before (a reconnect, not the first connect).</summary>
    public bool IsReconnect { get; }

    /// <summary>Why the connection was lost (for <see cref="RedisConnection.Disconnected"/>).</summary>
    public Exception? Exception { get; }
}

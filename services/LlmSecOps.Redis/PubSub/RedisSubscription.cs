namespace LlmSecOps.Redis;

/// <summary>
/// One handler subscribed to one channel. Dispose it to stop receiving; the channel is unsubscribed on the
/// server when its last handler goes.
/// </summary>
public sealed class RedisSubscription : IAsyncDisposable
{
    private readonly RedisConnection _connection;
    private int _disposed;

    internal RedisSubscription(RedisConnection connection, string channel, Action<string, RedisValue> handler)
    {
        _connection = connection;
        Channel = channel;
        Handler = handler;
    }

    /// <summary>The channel.</summary>
    public string Channel { get; }

    internal Action<string, RedisValue> Handler { get; }

    /// <summary>Removes the handler (and unsubscribes the channel if it was the last one).</summary>
    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _disposed, 1) == 0 ? _connection.UnsubscribeAsync(this) : ValueTask.CompletedTask;
}

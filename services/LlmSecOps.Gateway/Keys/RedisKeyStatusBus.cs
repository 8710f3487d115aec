using LlmSecOps.Contracts.Events;
using LlmSecOps.Redis;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// <see cref="IKeyStatusBus"/> on Redis: records under <c>{prefix}llmsecops:keystatus:{keyId}</c> with a TTL, changes
/// on channel <c>{prefix}llmsecops:revocations</c>. The connection is opened once, at start-up (the gateway does not
/// start without Redis); afterwards the client reconnects on its own and <see cref="RedisConnection.SubscriptionsRestored"/>
/// triggers the resync.
/// </summary>
public sealed class RedisKeyStatusBus(string connectionString, string keyPrefix, ILoggerFactory loggerFactory) : IKeyStatusBus, IAsyncDisposable
{
    private readonly Lazy<Task<RedisConnection>> _connection = new(() => ConnectAsync(connectionString, loggerFactory));
    private readonly string _keyPrefix = keyPrefix + "llmsecops:keystatus:";
    private readonly string _channel = keyPrefix + RequestEvent.RevocationChannel;

    /// <summary>The channel actually used (with the prefix).</summary>
    public string Channel => _channel;

    /// <summary>The shared connection (the data plane may reuse it).</summary>
    public Task<RedisConnection> ConnectionAsync() => _connection.Value;

    public async Task<string?> GetAsync(string keyId, CancellationToken cancellationToken)
    {
        var redis = await _connection.Value;
        return await redis.GetAsync(_keyPrefix + keyId).WaitAsync(cancellationToken);
    }

    public async Task SetAsync(string keyId, string json, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken)
    {
        var redis = await _connection.Value;
        await redis.SetAsync(_keyPrefix + keyId, json, ttl, onlyIfAbsent ? RedisSetCondition.IfNotExists : RedisSetCondition.Always).WaitAsync(cancellationToken);
    }

    public async Task PublishAsync(string message, CancellationToken cancellationToken)
    {
        var redis = await _connection.Value;
        await redis.PublishAsync(_channel, message).WaitAsync(cancellationToken);
    }

    public async Task SubscribeAsync(Action<string> onMessage, Func<Task> onReconnected, CancellationToken cancellationToken)
    {
        var redis = await _connection.Value.WaitAsync(cancellationToken);
        redis.SubscriptionsRestored += (_, _) => _ = onReconnected();
        await redis.SubscribeAsync(_channel, (_, value) =>
        {
            if (value.AsString() is { Length: > 0 } message)
            {
                onMessage(message);
            }
        }, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection.IsValueCreated)
        {
            try
            {
                await (await _connection.Value).DisposeAsync();
            }
            catch (RedisException)
            {
                // never connected: nothing to close
            }
        }
    }

    private static Task<RedisConnection> ConnectAsync(string connectionString, ILoggerFactory loggerFactory)
    {
        var options = RedisOptions.Parse(connectionString);
        options.LoggerFactory = loggerFactory;
        options.ClientName ??= "llmsecops-gateway";
        return RedisConnection.ConnectAsync(options);
    }
}

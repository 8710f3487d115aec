using System.Collections.Concurrent;
using LlmSecOps.Redis.Connection;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis;

public sealed partial class RedisConnection
{
    private readonly ConcurrentDictionary<string, Action<string, RedisValue>[]> _subscriptions = new(StringComparer.Ordinal);
    private readonly Lock _subscriptionLock = new();

    /// <summary><c>PUBLISH channel message</c>; returns how many subscribers received it.</summary>
    public Task<long> PublishAsync(string channel, RedisArg message)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(3);
        cmd.WriteBulk("PUBLISH"u8);
        cmd.WriteBulk(channel);
        cmd.WriteBulk(message);
        return Send(cmd, "PUBLISH", Replies.Int64);
    }

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="channel"/> on the dedicated subscriber connection
    /// (created on first use) and returns once the server confirmed. The handler runs on the connection's reader,
    /// in publication order: keep it short and non-blocking, hand heavy work to a queue; exceptions it throws are
    /// logged and swallowed. After a reconnect every channel is subscribed again and <see cref="SubscriptionsRestored"/>
    /// fires — messages published meanwhile were lost.
    /// </summary>
    /// <exception cref="RedisConnectionException">The subscriber connection is down; nothing was registered.</exception>
    public async Task<RedisSubscription> SubscribeAsync(string channel, Action<string, RedisValue> handler, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(channel);
        ArgumentNullException.ThrowIfNull(handler);
        var lane = await GetLane(ref _subscriber, RedisConnectionKind.Subscriber, OnPush, ResubscribeAsync).WaitAsync(cancellationToken);
        var subscription = new RedisSubscription(this, channel, handler);
        Task<RedisValue> confirmation;
        lock (_subscriptionLock)
        {
            _subscriptions.AddOrUpdate(channel, static (_, h) => [h], static (_, existing, h) => [.. existing, h], handler);
            // Sent under the lock so that SUBSCRIBE/UNSUBSCRIBE of one channel reach the server in map order.
            confirmation = lane.Send(BuildChannelCommand("SUBSCRIBE"u8, channel), "SUBSCRIBE", _options.CommandTimeout, cancellationToken);
        }

        try
        {
            await confirmation;
        }
        catch
        {
            RemoveHandler(subscription);
            throw;
        }

        return subscription;
    }

    internal async ValueTask UnsubscribeAsync(RedisSubscription subscription)
    {
        var lastHandler = RemoveHandler(subscription, out var lane, out var unsubscribe);
        if (!lastHandler || lane is null || unsubscribe is null)
        {
            return;
        }

        try
        {
            await unsubscribe;
        }
        catch (RedisException)
        {
            // Disconnected: a reconnect subscribes only channels that still have handlers, so nothing is left behind.
        }
    }

    private void RemoveHandler(RedisSubscription subscription) => RemoveHandler(subscription, out _, out _);

    private bool RemoveHandler(RedisSubscription subscription, out RedisLane? lane, out Task<RedisValue>? unsubscribe)
    {
        lane = null;
        unsubscribe = null;
        var laneTask = Volatile.Read(ref _subscriber);
        lock (_subscriptionLock)
        {
            if (!_subscriptions.TryGetValue(subscription.Channel, out var handlers))
            {
                return false;
            }

            var index = Array.IndexOf(handlers, subscription.Handler);
            if (index < 0)
            {
                return false;
            }

            if (handlers.Length > 1)
            {
                _subscriptions[subscription.Channel] = [.. handlers[..index], .. handlers[(index + 1)..]];
                return false;
            }

            _subscriptions.TryRemove(subscription.Channel, out _);
            if (laneTask is { IsCompletedSuccessfully: true })
            {
                lane = laneTask.Result;
                unsubscribe = lane.Send(BuildChannelCommand("UNSUBSCRIBE"u8, subscription.Channel), "UNSUBSCRIBE", _options.CommandTimeout);
            }

            return true;
        }
    }

    private async Task ResubscribeAsync(RedisLane lane, RespSocket socket, CancellationToken cancellationToken)
    {
        var confirmations = new List<Task<RedisValue>>();
        lock (_subscriptionLock)
        {
            foreach (var channel in _subscriptions.Keys)
            {
                confirmations.Add(lane.SendOn(socket, BuildChannelCommand("SUBSCRIBE"u8, channel), "SUBSCRIBE"));
            }
        }

        await Task.WhenAll(confirmations).WaitAsync(cancellationToken);
    }

    private bool OnPush(RedisValue reply)
    {
        // RESP2 pub/sub delivery: ["message", channel, payload]. Subscribe confirmations (["subscribe", ...])
        // and PING replies are ordinary replies and go to the FIFO queue.
        if (reply.Type != RedisValueType.Array || reply.Length != 3 || !reply[0].EqualsText("message"))
        {
            return false;
        }

        var channel = reply[1].AsString()!;
        if (_subscriptions.TryGetValue(channel, out var handlers))
        {
            foreach (var handler in handlers)
            {
                try
                {
                    handler(channel, reply[2]);
                }
                catch (Exception ex)
                {
                    Log.HandlerFailed(_interactive.Logger, channel, ex);
                }
            }
        }

        return true;
    }

    private static RespBuffer BuildChannelCommand(ReadOnlySpan<byte> command, string channel)
    {
        var cmd = RespBuffer.RentScratch();
        cmd.WriteArrayHeader(2);
        cmd.WriteBulk(command);
        cmd.WriteBulk(channel);
        return cmd;
    }
}

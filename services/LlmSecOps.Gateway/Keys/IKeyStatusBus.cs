namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// The shared (Redis) side of key state: a status cache of <see cref="KeyRecord"/>s shared by every replica and
/// the <c>llmsecops:revocations</c> channel on which any change of a key (message: the key id) or a tenant
/// (message: <c>tenant:{tenantId}</c>) is announced.
/// </summary>
public interface IKeyStatusBus
{
    /// <summary>The cached record JSON of a key, or null on a miss (or when Redis is unreachable).</summary>
    Task<string?> GetAsync(string keyId, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a key's record. <paramref name="onlyIfAbsent"/> is used by replicas filling the cache from Postgres,
    /// so a fill that read Postgres before a revocation can never overwrite the revocation's own write.
    /// </summary>
    Task SetAsync(string keyId, string json, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken);

    /// <summary>Publishes a change message on the revocation channel.</summary>
    Task PublishAsync(string message, CancellationToken cancellationToken);

    /// <summary>
    /// Subscribes to the revocation channel. <paramref name="onMessage"/> runs for each message;
    /// <paramref name="onReconnected"/> runs after the subscription was re-established following a disconnect
    /// (messages published meanwhile were lost, so the caller resyncs from Postgres).
    /// </summary>
    Task SubscribeAsync(Action<string> onMessage, Func<Task> onReconnected, CancellationToken cancellationToken);
}

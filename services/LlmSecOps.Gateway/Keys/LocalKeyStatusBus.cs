namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// The bus when no Redis is configured (<c>ConnectionStrings__redis</c> unset): a single replica with no shared
/// cache. Changes made through this replica's admin API still drop its own cache at once; nothing reaches other replicas.
/// </summary>
internal sealed class LocalKeyStatusBus : IKeyStatusBus
{
    public Task<string?> GetAsync(string keyId, CancellationToken cancellationToken) => Task.FromResult<string?>(null);

    public Task SetAsync(string keyId, string json, TimeSpan ttl, bool onlyIfAbsent, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task PublishAsync(string message, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task SubscribeAsync(Action<string> onMessage, Func<Task> onReconnected, CancellationToken cancellationToken) => Task.CompletedTask;
}

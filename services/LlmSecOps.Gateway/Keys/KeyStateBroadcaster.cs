using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// Announces a committed key or tenant change to every replica: this replica's cache first, then the Redis status
/// cache (an unconditional write of the record read back from Postgres), then a publish on
/// <c>llmsecops:revocations</c>. Postgres is written before this runs, so a Redis failure loses nothing: replicas
/// resync from Postgres after reconnecting, and their caches expire.
/// </summary>
public sealed partial class KeyStateBroadcaster(GatewayDatabase database, IKeyStatusBus bus, KeyAuthenticator authenticator, TenantDirectory tenants,
    IOptions<KeyOptions> options, ILogger<KeyStateBroadcaster> logger)
{
    /// <summary>Prefix of tenant-change messages on the channel.</summary>
    public const string TenantMessagePrefix = "tenant:";

    /// <summary>Announces that a key changed (revoked, reinstated, rotated, expiry or budget changed).</summary>
    public async Task KeyChangedAsync(string keyId, CancellationToken cancellationToken)
    {
        authenticator.Invalidate(keyId);
        try
        {
            KeyRecord? record;
            await using (var connection = await database.OpenAsync(cancellationToken))
            {
                record = await KeyRecord.LoadAsync(connection, keyId, cancellationToken);
            }

            if (record is not null)
            {
                await bus.SetAsync(keyId, KeyAuthenticator.Serialize(record), options.Value.RedisStatusTtl, onlyIfAbsent: false, cancellationToken);
            }

            await bus.PublishAsync(keyId, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogBroadcastFailed(logger, keyId, ex);
        }
    }

    /// <summary>Announces that a tenant changed (suspended, resumed, tier changed).</summary>
    public async Task TenantChangedAsync(string tenantId, CancellationToken cancellationToken)
    {
        authenticator.InvalidateTenant(tenantId);
        tenants.Invalidate(tenantId);
        try
        {
            await bus.PublishAsync(TenantMessagePrefix + tenantId, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogBroadcastFailed(logger, TenantMessagePrefix + tenantId, ex);
        }
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error,
        Message = "Could not announce the change of {Subject} over Redis; Postgres has it, replicas pick it up when they resync or their cache expires")]
    private static partial void LogBroadcastFailed(ILogger logger, string subject, Exception exception);
}

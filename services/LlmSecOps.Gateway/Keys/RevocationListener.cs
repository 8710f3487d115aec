using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// Keeps this replica's key cache honest: subscribes to <c>llmsecops:revocations</c> (drop the key at once), resyncs
/// from Postgres after every Redis reconnect, and every <see cref="KeyOptions.ResyncInterval"/> as a safety net.
/// </summary>
internal sealed partial class RevocationListener(IKeyStatusBus bus, KeyAuthenticator authenticator, TenantDirectory tenants,
    IOptions<KeyOptions> options, ILogger<RevocationListener> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Record the starting point for resyncs and subscribe before the listeners open.
        await authenticator.ResyncAsync(cancellationToken);
        await bus.SubscribeAsync(OnMessage, OnReconnectedAsync, cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ResyncInterval;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await authenticator.ResyncAsync(stoppingToken);
                tenants.Clear();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogResyncFailed(logger, ex);
            }
        }
    }

    private void OnMessage(string message)
    {
        if (message.StartsWith(KeyStateBroadcaster.TenantMessagePrefix, StringComparison.Ordinal))
        {
            var tenantId = message[KeyStateBroadcaster.TenantMessagePrefix.Length..];
            authenticator.InvalidateTenant(tenantId);
            tenants.Invalidate(tenantId);
        }
        else
        {
            authenticator.Invalidate(message);
        }
    }

    private async Task OnReconnectedAsync()
    {
        LogReconnected(logger);
        try
        {
            await authenticator.ResyncAsync(CancellationToken.None);
            tenants.Clear();
        }
        catch (Exception ex)
        {
            LogResyncFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Revocation channel re-subscribed after a Redis reconnect; resyncing key state from Postgres")]
    private static partial void LogReconnected(ILogger logger);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Error, Message = "Key state resync from Postgres failed; will retry")]
    private static partial void LogResyncFailed(ILogger logger, Exception exception);
}

using System.Net.Sockets;
using System.Text;
using Dapper;
using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Webhooks;

/// <summary>
/// Delivers the outbox: claims due notifications with <c>FOR UPDATE SKIP LOCKED</c> (several replicas share the work)
/// by pushing their next attempt into the future (a lease: a replica that dies mid-delivery leaves them to be retried),
/// POSTs each signed body to the tenant's webhook, and records success, or schedules a retry with exponential backoff
/// and jitter until <see cref="WebhookOptions.MaxAttempts"/>. Because state lives in Postgres, a restart loses nothing.
/// </summary>
public sealed partial class WebhookDispatcher(GatewayDatabase database, WebhookSigner signer, WebhookTargetGuard guard,
    IOptions<WebhookOptions> options, TimeProvider time, ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly Lazy<HttpClient> _lazyClient = new(() => CreateClient(guard, options.Value));

    private HttpClient Client => _lazyClient.Value;

    /// <summary>Delivers what is due now; returns how many notifications were attempted.</summary>
    public async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        List<Due> due;
        await using (var connection = await database.OpenAsync(cancellationToken))
        {
            // Lease: a claimed row is not due again until the delivery timeout (plus slack) has passed.
            due = (await connection.QueryAsync<Due>(new CommandDefinition(
                """
                UPDATE webhook_outbox o SET next_attempt_at = now() + @lease
                FROM tenants t
                WHERE o.id IN (SELECT id FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= now()
                               ORDER BY next_attempt_at, id LIMIT @batch FOR UPDATE SKIP LOCKED)
                  AND t.id = o.tenant_id
                RETURNING o.id, o.tenant_id, o.payload, o.attempts, t.webhook_url, t.webhook_secret_nonce, t.webhook_pepper_version
                """, new { lease = o.Timeout * 2 + TimeSpan.FromSeconds(5), batch = o.BatchSize }, cancellationToken: cancellationToken))).ToList();
        }

        foreach (var item in due)
        {
            string? failure;
            if (item.WebhookUrl is null || item.WebhookSecretNonce is null || item.WebhookPepperVersion is null)
            {
                failure = "the tenant no longer has a webhook";
            }
            else
            {
                failure = await SendAsync(item, cancellationToken);
            }

            await RecordAsync(item, failure, cancellationToken);
        }

        return due.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PollInterval);
        do
        {
            try
            {
                while (await DeliverDueAsync(stoppingToken) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogDispatchFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override void Dispose()
    {
        if (_lazyClient.IsValueCreated)
        {
            _lazyClient.Value.Dispose();
        }

        base.Dispose();
    }

    private async Task<string?> SendAsync(Due item, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(item.Payload);
        var secret = signer.SecretFor(item.TenantId, item.WebhookSecretNonce!, item.WebhookPepperVersion!.Value);
        using var request = new HttpRequestMessage(HttpMethod.Post, item.WebhookUrl) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add(WebhookSigner.SignatureHeader, WebhookSigner.Sign(secret, time.GetUtcNow().ToUnixTimeSeconds(), body));
        request.Headers.Add(WebhookSigner.IdHeader, item.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.Timeout);
            using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or SocketException)
        {
            return ex.Message;
        }
    }

    private async Task RecordAsync(Due item, string? failure, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var attempts = item.Attempts + 1;
        await using var connection = await database.OpenAsync(cancellationToken);
        if (failure is null)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE webhook_outbox SET status = 'delivered', attempts = @attempts, delivered_at = now(), last_error = NULL WHERE id = @id",
                new { item.Id, attempts }, cancellationToken: cancellationToken));
            LogDelivered(logger, item.Id, item.TenantId, attempts);
            return;
        }

        var final = attempts >= o.MaxAttempts;
        // Exponential backoff with +-20% jitter so a recovering receiver is not hit by every replica at once.
        var backoff = TimeSpan.FromTicks(Math.Min(o.MaxBackoff.Ticks, o.InitialBackoff.Ticks * (1L << Math.Min(attempts - 1, 30))));
        backoff *= 0.8 + (Random.Shared.NextDouble() * 0.4);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE webhook_outbox SET attempts = @attempts, last_error = @failure,
                status = CASE WHEN @final THEN 'failed' ELSE 'pending' END, next_attempt_at = now() + @backoff
            WHERE id = @id
            """, new { item.Id, attempts, failure = failure.Length > 500 ? failure[..500] : failure, final, backoff },
            cancellationToken: cancellationToken));
        LogAttemptFailed(logger, item.Id, item.TenantId, attempts, failure, final);
    }

    private static HttpClient CreateClient(WebhookTargetGuard guard, WebhookOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // a redirect could point anywhere (SSRF)
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // Resolve and check the address of every connection ourselves: DNS rebinding cannot slip a private address in.
            ConnectCallback = async (context, cancellationToken) =>
            {
                var addresses = await WebhookTargetGuard.ResolveAsync(context.DnsEndPoint.Host, cancellationToken);
                var allowed = addresses.Where(guard.IsAllowed).ToArray();
                if (allowed.Length == 0 || allowed.Length != addresses.Length)
                {
                    throw new HttpRequestException($"Webhook host {context.DnsEndPoint.Host} resolves to a non-public address; refused (SSRF).");
                }

                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private sealed class Due
    {
        public long Id { get; set; }
        public string TenantId { get; set; } = "";
        public string Payload { get; set; } = "";
        public int Attempts { get; set; }
        public string? WebhookUrl { get; set; }
        public string? WebhookSecretNonce { get; set; }
        public int? WebhookPepperVersion { get; set; }
    }

    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "Webhook notification {Id} for tenant {TenantId} delivered after {Attempts} attempt(s)")]
    private static partial void LogDelivered(ILogger logger, long id, string tenantId, int attempts);

    [LoggerMessage(EventId = 1602, Level = LogLevel.Warning, Message = "Webhook notification {Id} for tenant {TenantId}: attempt {Attempts} failed ({Failure}); final: {Final}")]
    private static partial void LogAttemptFailed(ILogger logger, long id, string tenantId, int attempts, string failure, bool final);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Error, Message = "Webhook dispatch loop failed; will retry")]
    private static partial void LogDispatchFailed(ILogger logger, Exception exception);
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.Gateway.Tests.Infrastructure;

/// <summary>A real HTTP receiver for owner webhooks that records what it got and can fail the first N deliveries.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _failuresLeft;

    private WebhookReceiver(WebApplication app, int port, int failFirst)
    {
        _app = app;
        Port = port;
        _failuresLeft = failFirst;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    public ConcurrentQueue<(string Signature, string Id, byte[] Body, DateTimeOffset At)> Received { get; } = new();

    public int Attempts;

    public static async Task<WebhookReceiver> StartAsync(int port, int failFirst = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, port, failFirst);
        app.MapPost("/hook", async (HttpContext context) =>
        {
            Interlocked.Increment(ref receiver.Attempts);
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            if (Interlocked.Decrement(ref receiver._failuresLeft) >= 0)
            {
                return Results.StatusCode(503);
            }

            receiver.Received.Enqueue((context.Request.Headers["X-LlmSecOps-Signature"].ToString(),
                context.Request.Headers["X-LlmSecOps-Webhook-Id"].ToString(), body.ToArray(), DateTimeOffset.UtcNow));
            return Results.Ok();
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

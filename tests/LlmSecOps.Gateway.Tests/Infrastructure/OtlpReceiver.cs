using System.Collections.Concurrent;
using System.IO.Compression;
using LlmSecOps.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace LlmSecOps.Gateway.Tests.Infrastructure;

/// <summary>
/// A minimal OTLP/HTTP receiver on loopback: keeps the raw protobuf body of every export request per signal
/// (<c>traces</c>, <c>metrics</c>, <c>logs</c>) so a test can search the bytes that really left the process.
/// Protobuf writes strings as plain UTF-8, so a byte search finds any attribute, name or log body.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<byte[]>> _bodies = new(StringComparer.Ordinal);

    private OtlpReceiver(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The base address to give <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (the exporter appends <c>/v1/{signal}</c>).</summary>
    public string Endpoint { get; }

    /// <summary>Starts a receiver on a free loopback port.</summary>
    public static async Task<OtlpReceiver> StartAsync()
    {
        var port = FreePort.Get();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, $"http://127.0.0.1:{port}");
        app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var buffer = new MemoryStream();
            Stream body = request.Headers.ContentEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase)
                ? new GZipStream(request.Body, CompressionMode.Decompress)
                : request.Body;
            await body.CopyToAsync(buffer);
            receiver._bodies.GetOrAdd(signal, _ => new ConcurrentQueue<byte[]>()).Enqueue(buffer.ToArray());

            // An empty Export*ServiceResponse message is an empty protobuf body.
            return Results.Bytes([], "application/x-protobuf");
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>The raw bodies received for one signal so far.</summary>
    public IReadOnlyList<byte[]> Bodies(string signal) =>
        _bodies.TryGetValue(signal, out var queue) ? [.. queue] : [];

    /// <summary>Every body received, all signals.</summary>
    public IEnumerable<(string Signal, byte[] Body)> All() =>
        _bodies.SelectMany(p => p.Value.Select(b => (p.Key, b)));

    /// <summary>True when any body of <paramref name="signal"/> contains <paramref name="text"/> as UTF-8 bytes.</summary>
    public bool Contains(string signal, string text)
    {
        var needle = System.Text.Encoding.UTF8.GetBytes(text);
        return Bodies(signal).Any(b => b.AsSpan().IndexOf(needle) >= 0);
    }

    /// <summary>Polls until <paramref name="condition"/> holds or the deadline passes; returns whether it held.</summary>
    public async Task<bool> WaitUntilAsync(Func<OtlpReceiver, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(this))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(100);
        }

        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

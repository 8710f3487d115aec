using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.ServiceDefaults.Tests.Telemetry;

public class OtlpExportTests
{
    [Fact]
    public async Task TracesMetricsAndLogsAreExportedOverOtlpWhenAnEndpointIsConfigured()
    {
        // A minimal OTLP/HTTP receiver: records which signal paths were posted to.
        var received = new ConcurrentDictionary<string, int>();
        var receiverPort = FreePort();
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.WebHost.UseUrls($"http://127.0.0.1:{receiverPort}");
        await using var receiver = receiverBuilder.Build();
        receiver.MapPost("/v1/{signal}", (string signal) =>
        {
            received.AddOrUpdate(signal, 1, (_, n) => n + 1);
            return Results.Ok();
        });
        await receiver.StartAsync();

        var port = FreePort();
        // As Aspire does: the OTLP settings are environment variables present before the host starts.
        Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT", $"http://127.0.0.1:{receiverPort}");
        Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Configuration["Listeners:Api:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            builder.AddServiceDefaults(new ListenerDefinition("Api", "127.0.0.1", 0, IsManagement: true));
            var app = builder.Build();
            app.UseRouting();
            app.UseListenerIsolation();
            app.MapGet("/hello", (ILogger<OtlpExportTests> log) =>
            {
                log.LogInformation("hello handled");
                return "hi";
            }).RequireListener("Api");
            await app.StartAsync();
            using (var client = new HttpClient())
            {
                Assert.Equal("hi", await client.GetStringAsync(new Uri($"http://127.0.0.1:{port}/hello")));
            }

            await app.StopAsync(); // flushes the providers
            await app.DisposeAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT", null);
            Environment.SetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL", null);
        }

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!(received.ContainsKey("traces") && received.ContainsKey("metrics") && received.ContainsKey("logs")) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(received.ContainsKey("traces"), "no traces exported: " + string.Join(",", received.Keys));
        Assert.True(received.ContainsKey("metrics"), "no metrics exported: " + string.Join(",", received.Keys));
        Assert.True(received.ContainsKey("logs"), "no logs exported: " + string.Join(",", received.Keys));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

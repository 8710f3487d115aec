using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LlmSecOps.ServiceDefaults.Telemetry;

/// <summary>
/// OpenTelemetry traces, metrics and logs over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (Aspire sets it).
/// The instrumentation packages are not available to us, so we subscribe to the activity sources and meters
/// that ASP.NET Core, HttpClient and the runtime already emit.
/// </summary>
public static class TelemetryExtensions
{
    /// <summary>Activity sources subscribed to. Our own code uses names starting with <c>LlmSecOps.</c>.</summary>
    public static readonly string[] ActivitySources =
    [
        "Microsoft.AspNetCore",
        "System.Net.Http",
        "Npgsql",
        "LlmSecOps.*",
    ];

    /// <summary>Meters subscribed to.</summary>
    public static readonly string[] Meters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "Microsoft.AspNetCore.RateLimiting",
        "System.Net.Http",
        "System.Net.NameResolution",
        "System.Runtime",
        "Npgsql",
        "LlmSecOps.*",
    ];

    /// <summary>True when an OTLP endpoint is configured.</summary>
    public static bool IsOtlpConfigured(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    /// <summary>Registers the tracer and meter providers and the OTLP log exporter when OTLP is configured.</summary>
    public static IHostApplicationBuilder AddTelemetry(this IHostApplicationBuilder builder)
    {
        if (!IsOtlpConfigured(builder.Configuration))
        {
            return builder;
        }

        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName;
        var resource = ResourceBuilder.CreateDefault().AddService(serviceName);

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.SetResourceBuilder(resource);
            logging.IncludeFormattedMessage = true;
            // No scopes: ASP.NET Core's request scope carries the raw request path, which a client can fill with its key
            // (CWE-598), and scopes cannot be rewritten on the way out. Trace and span ids are exported without them.
            logging.IncludeScopes = false;
            logging.AddProcessor(new LogScrubbingProcessor());
            logging.AddOtlpExporter();
        });

        builder.Services.AddSingleton(_ => Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(ActivitySources)
            .AddProcessor(new ActivityScrubbingProcessor())
            .AddOtlpExporter()
            .Build());
        builder.Services.AddSingleton(_ => Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(Meters)
            .AddOtlpExporter()
            .Build());
        builder.Services.AddHostedService<TelemetryProvidersHost>();
        return builder;
    }

    /// <summary>Creates the providers at start-up (DI is lazy) and flushes them at shutdown.</summary>
    private sealed class TelemetryProvidersHost(TracerProvider tracer, MeterProvider meter) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            tracer.ForceFlush(2000);
            meter.ForceFlush(2000);
            return Task.CompletedTask;
        }
    }
}

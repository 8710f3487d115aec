using LlmSecOps.ServiceDefaults.Kestrel;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.ServiceDefaults.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace LlmSecOps.ServiceDefaults;

/// <summary>What every LlmSecOps service shares: telemetry, health, hardened Kestrel listeners, Aspire configuration.</summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>Tag of health checks that liveness runs (the process itself); readiness runs every check.</summary>
    public const string LiveTag = "live";

    /// <summary>
    /// Adds OpenTelemetry (OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), health checks, Kestrel limits
    /// (section <c>KestrelLimits</c>) and the service's listeners (section <c>Listeners:{Name}</c>, each bound
    /// explicitly so the port a connection arrived on decides which API it reaches).
    /// </summary>
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, params ListenerDefinition[] listeners)
    {
        builder.AddTelemetry();
        builder.Logging.SuppressRawRequestLines();

        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        builder.Services.AddOptions<KestrelLimitsOptions>().BindConfiguration("KestrelLimits").ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<KestrelLimitsOptions>, KestrelLimitsValidator>();

        var registry = new ListenerRegistry(ResolveListeners(builder.Configuration, listeners));
        builder.Services.AddSingleton(registry);
        builder.Services.AddSingleton<IConfigureOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>(sp =>
            new ConfigureNamedOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(
                Options.DefaultName,
                kestrel => KestrelHardening.Apply(kestrel, sp.GetRequiredService<IOptions<KestrelLimitsOptions>>().Value, registry,
                    sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>())));
        builder.Services.AddHostedService<ListenerPortsUpdater>();
        return builder;
    }

    /// <summary>
    /// Maps <c>/health/live</c> and <c>/health/ready</c> on every management listener (never on the data plane)
    /// and turns on listener isolation.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        var registry = app.Services.GetRequiredService<ListenerRegistry>();
        foreach (var listener in registry.Listeners.Where(l => l.IsManagement))
        {
            app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains(LiveTag) })
                .RequireListener(listener.Name);
            app.MapHealthChecks("/health/ready").RequireListener(listener.Name);
        }

        return app;
    }

    private static List<ResolvedListener> ResolveListeners(IConfiguration configuration, ListenerDefinition[] definitions)
    {
        var resolved = new List<ResolvedListener>(definitions.Length);
        var errors = new List<string>();
        foreach (var definition in definitions)
        {
            var options = configuration.GetSection($"Listeners:{definition.Name}").Get<ListenerOptions>() ?? new ListenerOptions();
            var addressText = options.Address ?? definition.DefaultAddress;
            var port = options.Port ?? definition.DefaultPort;
            if (!System.Net.IPAddress.TryParse(addressText, out _) && addressText is not ("*" or "+" or "localhost"))
            {
                errors.Add($"Listeners:{definition.Name}:Address '{addressText}' is not an IP address; use e.g. 127.0.0.1, 0.0.0.0 or ::1.");
                continue;
            }

            if (port is < 0 or > 65535)
            {
                errors.Add($"Listeners:{definition.Name}:Port {port} is out of range 0-65535.");
            }

            if (options.RequireClientCertificate && string.IsNullOrEmpty(options.CertificatePath))
            {
                errors.Add($"Listeners:{definition.Name}:RequireClientCertificate needs Listeners:{definition.Name}:CertificatePath (mTLS runs over HTTPS).");
            }

            if (options.RequireClientCertificate && string.IsNullOrEmpty(options.ClientCertificateAuthorityPath))
            {
                errors.Add($"Listeners:{definition.Name}:RequireClientCertificate needs Listeners:{definition.Name}:ClientCertificateAuthorityPath (the CA that client certificates must chain to).");
            }

            if (options.CertificateReloadInterval < TimeSpan.Zero)
            {
                errors.Add($"Listeners:{definition.Name}:CertificateReloadInterval must not be negative (00:00:00 turns reloading off).");
            }

            if (!options.RequireClientCertificate && !string.IsNullOrEmpty(options.ClientCertificateAuthorityPath))
            {
                // Fail closed: a CA without RequireClientCertificate would look like mTLS in the configuration and not be.
                errors.Add($"Listeners:{definition.Name}:ClientCertificateAuthorityPath is set but Listeners:{definition.Name}:RequireClientCertificate is not true; set it to true for mTLS or remove the authority.");
            }

            foreach (var (setting, path) in new[]
            {
                ("CertificatePath", options.CertificatePath),
                ("CertificateKeyPath", options.CertificateKeyPath),
                ("ClientCertificateAuthorityPath", options.ClientCertificateAuthorityPath),
            })
            {
                if (!string.IsNullOrEmpty(path) && !File.Exists(path))
                {
                    errors.Add($"Listeners:{definition.Name}:{setting} '{path}' does not exist.");
                }
            }

            resolved.Add(new ResolvedListener(definition.Name, KestrelHardening.ParseAddress(addressText), port, definition.IsManagement, options));
        }

        var ports = resolved.Where(l => l.Port != 0).GroupBy(l => l.Port).Where(g => g.Count() > 1);
        errors.AddRange(ports.Select(g => $"Listeners {string.Join(" and ", g.Select(l => l.Name))} share port {g.Key}; each listener needs its own port."));
        if (errors.Count > 0)
        {
            throw new OptionsValidationException("Listeners", typeof(ListenerOptions), errors);
        }

        return resolved;
    }

    /// <summary>After start, records the ports the OS chose for listeners configured with port 0.</summary>
    private sealed class ListenerPortsUpdater(IServer server, ListenerRegistry registry, IHostApplicationLifetime lifetime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            lifetime.ApplicationStarted.Register(() =>
            {
                var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
                if (addresses is null || !registry.Listeners.Any(l => l.Port == 0))
                {
                    return;
                }

                registry.UpdatePorts(addresses.Select(a => new Uri(a.Replace("[::]", "localhost", StringComparison.Ordinal)).Port).ToArray());
            });
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

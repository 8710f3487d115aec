using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Events;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Records;
using LlmSecOps.Gateway.Tenants;
using LlmSecOps.ServiceDefaults.Configuration;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>Registers and maps the data plane (OpenAI and Ollama APIs on the Data listener).</summary>
public static class DataPlaneExtensions
{
    /// <summary>Adds the data plane's services and validated options. Needs the control plane's (key store, usage).</summary>
    public static WebApplicationBuilder AddDataPlane(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<DataPlaneOptions>().BindConfiguration("DataPlane").ValidateOnStart();
        services.AddSingleton<IValidateOptions<DataPlaneOptions>, DataPlaneOptionsValidator>();
        services.AddHttpForwarder();

        // Without an upstream (ConnectionStrings__ollama 'Endpoint=http://127.0.0.1:11434' or services__ollama__http__0)
        // the gateway still serves the admin API; model-bound requests answer 503 (fail closed).
        var upstream = ServiceEndpoints.Resolve(builder.Configuration, "ollama");
        services.AddSingleton(new UpstreamClient(upstream));
        services.AddSingleton<CallerPolicyStore>();
        services.AddSingleton<DataPlaneLimits>();
        services.AddSingleton<InferenceHandler>();
        services.AddClientIdentity();
        services.AddOptions<StrictTransportSecurityOptions>().BindConfiguration("DataPlane:Hsts").ValidateOnStart();
        services.AddSingleton<IValidateOptions<StrictTransportSecurityOptions>, StrictTransportSecurityOptionsValidator>();
        services.AddTransient<IStartupFilter>(sp => new StrictTransportSecurityStartupFilter(
            sp.GetRequiredService<IOptions<StrictTransportSecurityOptions>>(), sp.GetRequiredService<ListenerRegistry>(), GatewayApp.Data.Name));
        services.AddSingleton<ITenantRecordEraser, RequestRecordEraser>();
        services.AddRecordRetention();

        var journalRoot = builder.Configuration["DataPlane:JournalDirectory"] is { Length: > 0 } dir
            ? dir
            : Path.Combine(builder.Environment.ContentRootPath, "data", "journal");
        var journalBytes = long.TryParse(builder.Configuration["DataPlane:JournalMaxBytes"], out var b) ? b : 256L * 1024 * 1024;
        var prefix = builder.Configuration["Redis:KeyPrefix"] ?? "";
        services.AddSingleton(sp => new RequestEventPublisher(
            RequestEventPublisher.CreateEventWriter(() => sp.GetRequiredService<RedisKeyStatusBus>().ConnectionAsync(), prefix,
                Path.Combine(journalRoot, "events"), journalBytes, sp.GetRequiredService<ILoggerFactory>()),
            RequestRecordWriter.Create(sp.GetRequiredService<GatewayDatabase>(), Path.Combine(journalRoot, "records"), journalBytes, sp.GetRequiredService<ILoggerFactory>()),
            sp.GetRequiredService<KeyHasher>()));
        return builder;
    }

    /// <summary>Maps every data-plane request not served locally (model listings) through the request path.</summary>
    public static WebApplication MapDataPlane(this WebApplication app, string dataListener)
    {
        // A catch-all: the allow-list is checked on the raw request target inside the handler, so nothing that is not
        // on it (however spelled or encoded) reaches the upstream, and refusals are recorded like any other request.
        app.Map("/{**path}", (HttpContext http, InferenceHandler handler) => handler.HandleAsync(http)).RequireListener(dataListener);
        return app;
    }
}

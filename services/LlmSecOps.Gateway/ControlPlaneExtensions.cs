using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.DataPlane;
using LlmSecOps.Gateway.Incidents;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Tenants;
using LlmSecOps.Gateway.Usage;
using LlmSecOps.Gateway.Webhooks;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway;

/// <summary>Registers and maps the control plane (key store, admin API, audit, notifications, usage).</summary>
public static class ControlPlaneExtensions
{
    /// <summary>Configuration name of the Postgres connection string (Aspire: <c>postgres.AddDatabase("llmsecops")</c>).</summary>
    public const string DatabaseConnectionName = "llmsecops";

    /// <summary>Configuration name of the Redis connection string.</summary>
    public const string RedisConnectionName = "redis";

    /// <summary>Adds the control plane's services, options (validated at start) and background work.</summary>
    public static WebApplicationBuilder AddControlPlane(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddProblemDetails();
        services.TryAddTimeProvider();

        services.AddOptions<ControlPlaneOptions>().BindConfiguration("ControlPlane").ValidateOnStart();
        services.AddSingleton<IValidateOptions<ControlPlaneOptions>, ControlPlaneOptionsValidator>();
        services.AddOptions<KeyOptions>().BindConfiguration("Keys").ValidateOnStart();
        services.AddSingleton<IValidateOptions<KeyOptions>, KeyOptionsValidator>();
        services.AddOptions<WebhookOptions>().BindConfiguration("Webhooks").ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddOptions<AuditOptions>().BindConfiguration("Audit").ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuditOptions>, AuditOptionsValidator>();

        var connectionString = builder.Configuration.GetConnectionString(DatabaseConnectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new OptionsValidationException(DatabaseConnectionName, typeof(GatewayDatabase),
                ["No Postgres connection string: set ConnectionStrings__llmsecops (e.g. 'Host=127.0.0.1;Port=5432;Database=llmsecops;Username=llmsecops;Password=...')."]);
        }

        // Registered through a factory so the container disposes it (and its connection pool) with the host: an instance
        // registration is never disposed, and its idle connections stayed open for minutes after the host stopped.
        var database = new GatewayDatabase(connectionString);
        services.AddSingleton(_ => database);
        services.AddHostedService<DatabaseMigrator>();

        services.AddSingleton<KeyHasher>();
        services.AddSingleton<AdminTokenStore>();
        services.AddSingleton<KeyAuthenticator>();
        services.AddSingleton<TenantDirectory>();
        services.AddSingleton<KeyStateBroadcaster>();
        services.AddKeyStatusBus(builder.Configuration);
        services.AddHostedService<RevocationListener>();

        services.AddSingleton<WebhookTargetGuard>();
        services.AddSingleton<WebhookSigner>();
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());

        services.AddSingleton<AuditCheckpointer>();
        services.AddSingleton<AuditVerifier>();
        services.AddHostedService<AuditCheckpointService>();

        services.AddSingleton<UsageStore>();
        services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgres")
            .AddCheck<RedisHealthCheck>("redis");
        return builder;
    }

    /// <summary>Maps the admin API on the Admin listener and the minimal authenticated model listings on the Data listener.</summary>
    public static WebApplication MapControlPlane(this WebApplication app, string adminListener, string dataListener)
    {
        var admin = app.MapGroup("/admin").RequireListener(adminListener).HandleAdminErrors().RequireAdminAuthentication();
        admin.MapTenantEndpoints();
        admin.MapTierEndpoints();
        admin.MapKeyEndpoints();
        admin.MapIncidentEndpoints();
        admin.MapTokenEndpoints();
        admin.MapUsageEndpoints();
        AuditVerifier.MapAuditEndpoints(admin);

        app.MapGroup("/v1").RequireListener(dataListener).RequireKeyAuthentication(ApiFormat.OpenAI).MapOpenAIModelList();
        app.MapGroup("/api").RequireListener(dataListener).RequireKeyAuthentication(ApiFormat.Ollama).MapOllamaModelList();
        return app;
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }

    private static void AddKeyStatusBus(this IServiceCollection services, IConfiguration configuration)
    {
        var redis = configuration.GetConnectionString(RedisConnectionName);
        if (string.IsNullOrWhiteSpace(redis))
        {
            // Fail closed: without Redis a revocation would not reach the other replicas until their caches expire.
            throw new OptionsValidationException(RedisConnectionName, typeof(RedisKeyStatusBus),
                ["No Redis connection string: set ConnectionStrings__redis (e.g. '127.0.0.1:6379' or 'redis://:password@host:6379'); " +
                 "revocations reach every gateway replica through it."]);
        }

        var prefix = configuration["Redis:KeyPrefix"] ?? "";
        services.AddSingleton(sp => new RedisKeyStatusBus(redis, prefix, sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<IKeyStatusBus>(sp => sp.GetRequiredService<RedisKeyStatusBus>());
    }
}

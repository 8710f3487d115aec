using System.Text.Json.Serialization;
using LlmSecOps.AnomalyScorer.ControlPlane;
using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Events;
using LlmSecOps.AnomalyScorer.Management;
using LlmSecOps.AnomalyScorer.Scoring;
using LlmSecOps.AnomalyScorer.Snapshots;
using LlmSecOps.ServiceDefaults;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer;

/// <summary>Builds the AnomalyScorer service.</summary>
public static class AnomalyScorerApp
{
    /// <summary>The service's listener (health, status).</summary>
    public static readonly ListenerDefinition Management = new("Management", "127.0.0.1", 8082, IsManagement: true);

    /// <summary>Builds the app; <paramref name="configure"/> lets tests add configuration before services are built.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        configure?.Invoke(builder);
        builder.AddServiceDefaults(Management);
        builder.AddAnomalyScoring();

        var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapDefaultEndpoints();
        app.MapScorerManagement();
        return app;
    }

    /// <summary>Scoring, decisions, the control-plane client and the event consumer.</summary>
    public static WebApplicationBuilder AddAnomalyScoring(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddTimeProvider();
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));

        services.AddOptions<ScoringOptions>().BindConfiguration(ScoringOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ScoringOptions>, ScoringOptionsValidator>();
        services.AddOptions<ControlPlaneOptions>().BindConfiguration(ControlPlaneOptions.SectionName)
            .PostConfigure<IConfiguration>(ControlPlaneOptions.ResolveBaseUrl).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ControlPlaneOptions>, ControlPlaneOptionsValidator>();
        services.AddOptions<EventConsumerOptions>().BindConfiguration(EventConsumerOptions.SectionName)
            .PostConfigure<IConfiguration>((o, c) => o.KeyPrefix = c["Redis:KeyPrefix"] ?? o.KeyPrefix).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventConsumerOptions>, EventConsumerOptionsValidator>();

        services.AddHttpClient<IControlPlaneClient, HttpControlPlaneClient>();
        services.AddSingleton<DecisionDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<DecisionDispatcher>());
        services.AddSingleton(sp => new Scorer(
            sp.GetRequiredService<IOptions<ScoringOptions>>().Value, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<DecisionDispatcher>()));
        services.AddOptions<SnapshotOptions>().BindConfiguration(SnapshotOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SnapshotOptions>, SnapshotOptionsValidator>();
        services.AddSingleton<SnapshotService>();
        // before the consumer: baselines are restored before the first event is scored, and saved after it stopped
        services.AddHostedService(sp => sp.GetRequiredService<SnapshotService>());
        services.AddSingleton<EventConsumer>();
        services.AddHostedService(sp => sp.GetRequiredService<EventConsumer>());
        return builder;
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }
}

using LlmSecOps.ServiceDefaults;
using LlmSecOps.ServiceDefaults.Listeners;

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

        var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapDefaultEndpoints();
        return app;
    }
}

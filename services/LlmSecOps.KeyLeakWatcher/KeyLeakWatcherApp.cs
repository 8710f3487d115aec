using LlmSecOps.KeyLeakWatcher.Partner;
using LlmSecOps.ServiceDefaults;
using LlmSecOps.ServiceDefaults.Listeners;

namespace LlmSecOps.KeyLeakWatcher;

/// <summary>Builds the KeyLeakWatcher service.</summary>
public static class KeyLeakWatcherApp
{
    /// <summary>The service's listener (health, status, GitHub partner webhook).</summary>
    public static readonly ListenerDefinition Web = new("Web", "0.0.0.0", 8083, IsManagement: true);

    /// <summary>Builds the app; <paramref name="configure"/> lets tests add configuration before services are built.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        configure?.Invoke(builder);
        builder.AddServiceDefaults(Web);
        builder.AddLeakResponse();
        builder.AddGitHubPartner();
        builder.AddWatch();

        var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapDefaultEndpoints();
        app.MapGitHubPartner(Web.Name);
        return app;
    }
}

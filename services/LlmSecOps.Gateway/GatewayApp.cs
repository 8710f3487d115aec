using LlmSecOps.Gateway.DataPlane;
using LlmSecOps.ServiceDefaults;
using LlmSecOps.ServiceDefaults.Listeners;

namespace LlmSecOps.Gateway;

/// <summary>Builds the gateway: data plane (inference, 8080) and control plane (admin API, 8081) in one process.</summary>
public static class GatewayApp
{
    /// <summary>The data-plane listener: the only thing applications reach.</summary>
    public static readonly ListenerDefinition Data = new("Data", "0.0.0.0", 8080, IsManagement: false);

    /// <summary>The control-plane listener: loopback by default.</summary>
    public static readonly ListenerDefinition Admin = new("Admin", "127.0.0.1", 8081, IsManagement: true);

    /// <summary>Builds the app; <paramref name="configure"/> lets tests add configuration before services are built.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        configure?.Invoke(builder);
        builder.AddServiceDefaults(Data, Admin);
        builder.AddControlPlane();
        builder.AddDataPlane();

        var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapDefaultEndpoints();
        app.MapControlPlane(Admin.Name, Data.Name);
        app.MapDataPlane(Data.Name);
        return app;
    }
}

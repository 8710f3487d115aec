using System.Net;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.ServiceDefaults.Tests.Listeners;

public class PortZeroListenerTests
{
    [Fact]
    public async Task ListenersOnOsChosenPortsStartAndStayIsolated()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["Listeners:Data:Port"] = "0";
        builder.Configuration["Listeners:Admin:Port"] = "0";
        builder.AddServiceDefaults(
            new ListenerDefinition("Data", "127.0.0.1", 8080, IsManagement: false),
            new ListenerDefinition("Admin", "127.0.0.1", 8081, IsManagement: true));
        await using var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapGet("/admin/x", () => "admin").RequireListener("Admin");
        await app.StartAsync();

        var registry = app.Services.GetRequiredService<ListenerRegistry>();
        var data = registry.Get("Data").Port;
        var admin = registry.Get("Admin").Port;
        Assert.NotEqual(0, data);
        Assert.NotEqual(data, admin);
        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri($"http://127.0.0.1:{admin}/admin/x"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri($"http://127.0.0.1:{data}/admin/x"))).StatusCode);
    }
}

using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing;
using LlmSecOps.Testing.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

/// <summary>The real watcher app on a free loopback port, with its own fresh database on the harness's Postgres.</summary>
internal sealed class WatcherHost : IAsyncDisposable
{
    private WatcherHost(WebApplication app, string connectionString)
    {
        App = app;
        ConnectionString = connectionString;
        var port = app.Services.GetRequiredService<ListenerRegistry>().Get(KeyLeakWatcherApp.Web.Name).Port;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public WebApplication App { get; }

    public string ConnectionString { get; }

    public HttpClient Client { get; }

    public CapturingLoggerProvider Logs { get; private init; } = new();

    public static async Task<WatcherHost> StartAsync(Dictionary<string, string?> settings)
    {
        var logs = new CapturingLoggerProvider();
        var connectionString = await TestServers.NewDatabaseAsync();
        var app = KeyLeakWatcherApp.Build([], builder =>
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Listeners:Web:Address"] = "127.0.0.1",
                ["Listeners:Web:Port"] = "0",
                ["ConnectionStrings:llmsecops"] = connectionString,
            });
            builder.Configuration.AddInMemoryCollection(settings);
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Trace);
        });
        await app.StartAsync();
        return new WatcherHost(app, connectionString) { Logs = logs };
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

using LlmSecOps.Data.Migrations;
using LlmSecOps.KeyLeakWatcher.Actions;
using LlmSecOps.KeyLeakWatcher.Partner;
using LlmSecOps.KeyLeakWatcher.Watch;
using LlmSecOps.ServiceDefaults.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.KeyLeakWatcher;

/// <summary>Registers the watcher's features.</summary>
public static class WatcherServiceExtensions
{
    /// <summary>Schema holding the watcher's state.</summary>
    public const string Schema = "watcher";

    /// <summary>Control-plane client and the finding responder, backed by Postgres (<c>ConnectionStrings:llmsecops</c>).</summary>
    public static WebApplicationBuilder AddLeakResponse(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ControlPlaneOptions>().BindConfiguration("ControlPlane")
            .PostConfigure<IConfiguration>((o, configuration) => o.BaseUrl ??= ServiceEndpoints.Resolve(configuration, "gateway", "admin"))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ControlPlaneOptions>, ControlPlaneOptionsValidator>();
        builder.Services.AddHttpClient(nameof(ControlPlaneClient))
            .ConfigureHttpClient((sp, http) => ControlPlaneClient.Configure(http, sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value));

        var connectionString = builder.Configuration.GetConnectionString("llmsecops");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new OptionsValidationException("ConnectionStrings:llmsecops", typeof(string), ["ConnectionStrings:llmsecops is not set: the watcher keeps its findings in Postgres (schema watcher). Set ConnectionStrings__llmsecops."]);
        }

        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        builder.Services.AddHostedService(sp => new MigrationsOnStart(connectionString));
        builder.Services.AddSingleton<IFindingStore, PostgresFindingStore>();
        builder.Services.AddSingleton<SourceStateStore>();
        builder.Services.AddSingleton(sp => LeakResponder.Create(
            sp.GetRequiredService<IOptions<ControlPlaneOptions>>(),
            sp.GetRequiredService<IHttpClientFactory>(),
            sp.GetRequiredService<IFindingStore>(),
            sp.GetRequiredService<ILogger<LeakResponder>>()));
        return builder;
    }

    /// <summary>The GitHub partner endpoint's key cache and options.</summary>
    public static WebApplicationBuilder AddGitHubPartner(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<GitHubPartnerOptions>().BindConfiguration("GitHubPartner").ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GitHubPartnerOptions>, GitHubPartnerOptionsValidator>();
        builder.Services.AddHttpClient(nameof(GitHubPublicKeys)).ConfigureHttpClient(http => http.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<GitHubPublicKeys>();
        return builder;
    }

    /// <summary>Watch mode: configured sources polled on a schedule.</summary>
    public static WebApplicationBuilder AddWatch(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WatchOptions>().BindConfiguration("Watch").ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<WatchOptions>, WatchOptionsValidator>();
        builder.Services.AddSingleton<WatchService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WatchService>());
        return builder;
    }

    /// <summary>Applies the watcher's migrations before anything else starts (hosted services start before the server).</summary>
    private sealed class MigrationsOnStart(string connectionString) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) =>
            MigrationRunner.ApplyAsync(connectionString, Schema, typeof(WatcherServiceExtensions).Assembly, cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

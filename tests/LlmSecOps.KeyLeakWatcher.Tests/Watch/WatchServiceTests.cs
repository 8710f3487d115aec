using LlmSecOps.Data.Migrations;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;
using LlmSecOps.KeyLeakWatcher.Watch;
using LlmSecOps.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace LlmSecOps.KeyLeakWatcher.Tests.Watch;

public sealed class WatchServiceTests
{
    [Fact]
    public async Task EachRoundReadsOnlyNewCommitsAndRemembersWhereItGotTo()
    {
        using var temp = new TempFolder();
        var repo = temp.Path;
        Tools.Git(repo, "init", "-q");
        temp.Write("a.env", $"K={TestKeys.New()}\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "a");
        var connectionString = await TestServers.NewDatabaseAsync();
        await using var app = KeyLeakWatcherApp.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Listeners:Web:Port"] = "0",
            ["ConnectionStrings:llmsecops"] = connectionString,
            ["ControlPlane:ReportOnly"] = "true",
            ["Watch:Interval"] = "01:00:00",
            ["Watch:Sources:0:Kind"] = "git",
            ["Watch:Sources:0:Target"] = repo,
            ["Watch:Sources:0:Name"] = "my-repo",
        }));
        await MigrationRunner.ApplyAsync(connectionString, "watcher", typeof(KeyLeakWatcherApp).Assembly);
        var watch = app.Services.GetRequiredService<WatchService>();

        await watch.RunRoundAsync(CancellationToken.None);
        Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM watcher.findings"));
        var head1 = Tools.Git(repo, "rev-parse", "HEAD");
        Assert.Equal(head1, await ScalarAsync(connectionString, "SELECT state FROM watcher.source_state WHERE source_id = 'my-repo'"));

        await watch.RunRoundAsync(CancellationToken.None);
        Assert.Equal(1L, await ScalarAsync(connectionString, "SELECT count(*) FROM watcher.findings"));
        Assert.Equal(1, await ScalarAsync(connectionString, "SELECT max(times_seen) FROM watcher.findings"));

        temp.Write("b.env", $"K={TestKeys.New()}\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "b");
        await watch.RunRoundAsync(CancellationToken.None);

        Assert.Equal(2L, await ScalarAsync(connectionString, "SELECT count(*) FROM watcher.findings"));
        Assert.Equal(Tools.Git(repo, "rev-parse", "HEAD"), await ScalarAsync(connectionString, "SELECT state FROM watcher.source_state WHERE source_id = 'my-repo'"));
        Assert.Equal("recorded", await ScalarAsync(connectionString, "SELECT DISTINCT outcome FROM watcher.findings"));
    }

    [Fact]
    public async Task AWatchedSourceThatFailsIsRecordedWithItsErrorAndKeepsItsState()
    {
        var connectionString = await TestServers.NewDatabaseAsync();
        await using var app = KeyLeakWatcherApp.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Listeners:Web:Port"] = "0",
            ["ConnectionStrings:llmsecops"] = connectionString,
            ["ControlPlane:ReportOnly"] = "true",
            ["Watch:Sources:0:Kind"] = "image",
            ["Watch:Sources:0:Target"] = "/nonexistent/images",
        }));
        await MigrationRunner.ApplyAsync(connectionString, "watcher", typeof(KeyLeakWatcherApp).Assembly);

        await app.Services.GetRequiredService<WatchService>().RunRoundAsync(CancellationToken.None);

        var error = (string?)await ScalarAsync(connectionString, "SELECT last_error FROM watcher.source_state WHERE source_id = 'image:/nonexistent/images'");
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidWatchSettingsAreAllReportedAtStart()
    {
        var connectionString = await TestServers.NewDatabaseAsync();
        await using var app = KeyLeakWatcherApp.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Listeners:Web:Port"] = "0",
            ["ConnectionStrings:llmsecops"] = connectionString,
            ["ControlPlane:ReportOnly"] = "true",
            ["Watch:Sources:0:Kind"] = "svn",
            ["Watch:Sources:0:Target"] = "",
            ["Watch:Interval"] = "00:00:00",
        }));

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());

        Assert.Contains(error.Failures, f => f.Contains("'svn'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Target is empty", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Interval", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutAControlPlaneTheServiceRefusesToStartAndSaysHowToConfigureIt()
    {
        var connectionString = await TestServers.NewDatabaseAsync();
        await using var app = KeyLeakWatcherApp.Build([], builder => builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Listeners:Web:Port"] = "0",
            ["ConnectionStrings:llmsecops"] = connectionString,
        }));

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());

        Assert.Contains(error.Failures, f => f.Contains("ControlPlane__BaseUrl", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("ControlPlane__Token", StringComparison.Ordinal));
    }

    private static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}

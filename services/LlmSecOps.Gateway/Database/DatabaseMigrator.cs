using LlmSecOps.Data.Migrations;

namespace LlmSecOps.Gateway.Database;

/// <summary>Applies the gateway's migrations before the listeners open (hosted services start before the server).</summary>
internal sealed partial class DatabaseMigrator(GatewayDatabase database, ILogger<DatabaseMigrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var applied = await MigrationRunner.ApplyAsync(database.ConnectionString, GatewayDatabase.Schema, typeof(DatabaseMigrator).Assembly, cancellationToken);
        if (applied.Count > 0)
        {
            LogApplied(logger, applied.Count, string.Join(", ", applied));
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Applied {Count} gateway migration(s): {Ids}")]
    private static partial void LogApplied(ILogger logger, int count, string ids);
}

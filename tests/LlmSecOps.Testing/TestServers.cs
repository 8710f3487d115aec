using System.Collections.Concurrent;
using LlmSecOps.Testing.Postgres;
using LlmSecOps.Testing.Redis;
using Npgsql;

namespace LlmSecOps.Testing;

/// <summary>
/// Real PostgreSQL and Redis servers shared by every test of one test assembly: started on first use on free
/// loopback ports and stopped at process exit. When <c>LLMSECOPS_TEST_POSTGRES</c> / <c>LLMSECOPS_TEST_REDIS</c>
/// hold connection strings, those servers are used instead (CI with service containers, Testcontainers).
/// Tests isolate themselves with <see cref="NewDatabaseAsync"/> and <see cref="NewKeyPrefix"/>.
/// </summary>
public static class TestServers
{
    private static readonly Lazy<Task<string>> PostgresServer = new(StartPostgresAsync);
    private static readonly Lazy<Task<string>> RedisServer = new(StartRedisAsync);
    private static readonly ConcurrentBag<Action> ExitActions = [];
    private static int _exitHooked;

    /// <summary>Connection string of the shared PostgreSQL's maintenance database (superuser).</summary>
    public static Task<string> PostgresAsync() => PostgresServer.Value;

    /// <summary>Connection string of the shared Redis (<c>host:port[,password=..]</c>).</summary>
    public static Task<string> RedisAsync() => RedisServer.Value;

    /// <summary>Creates a fresh, empty database on the shared PostgreSQL and returns its connection string.</summary>
    public static async Task<string> NewDatabaseAsync()
    {
        var admin = await PostgresAsync();
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    /// <summary>A unique Redis key prefix for one test (use as <c>Redis:KeyPrefix</c>).</summary>
    public static string NewKeyPrefix() => "t" + Guid.NewGuid().ToString("N")[..12] + ":";

    /// <summary>Runs <paramref name="action"/> when the test process exits (servers must not outlive the run).</summary>
    public static void TrackForExit(Action action)
    {
        ExitActions.Add(action);
        if (Interlocked.Exchange(ref _exitHooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var exit in ExitActions)
                {
                    try
                    {
                        exit();
                    }
                    catch (Exception)
                    {
                        // keep stopping the others
                    }
                }
            };
        }
    }

    private static async Task<string> StartPostgresAsync()
    {
        var external = Environment.GetEnvironmentVariable("LLMSECOPS_TEST_POSTGRES");
        if (!string.IsNullOrWhiteSpace(external))
        {
            return external;
        }

        var server = await PostgresServerProcess.StartAsync();
        return server.ConnectionString;
    }

    private static async Task<string> StartRedisAsync()
    {
        var external = Environment.GetEnvironmentVariable("LLMSECOPS_TEST_REDIS");
        if (!string.IsNullOrWhiteSpace(external))
        {
            return external;
        }

        var server = await RedisServerProcess.StartAsync();
        return server.ConnectionString;
    }
}

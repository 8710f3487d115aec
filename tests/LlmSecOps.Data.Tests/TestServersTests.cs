using LlmSecOps.Testing;
using LlmSecOps.Testing.Redis;
using Npgsql;

namespace LlmSecOps.Data.Tests;

/// <summary>The harness itself: real servers, isolation, clear errors.</summary>
public class TestServersTests
{
    [Fact]
    public async Task EachTestGetsItsOwnEmptyDatabase()
    {
        var a = await TestServers.NewDatabaseAsync();
        var b = await TestServers.NewDatabaseAsync();

        Assert.NotEqual(new NpgsqlConnectionStringBuilder(a).Database, new NpgsqlConnectionStringBuilder(b).Database);
        await using var connection = new NpgsqlConnection(a);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", connection);
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task SharedRedisAnswersPing()
    {
        var connectionString = await TestServers.RedisAsync();
        var port = int.Parse(connectionString.Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("+PONG", await RawCommandAsync(port, "PING"));
        Assert.NotEqual(TestServers.NewKeyPrefix(), TestServers.NewKeyPrefix());
    }

    [Fact]
    public async Task AppendOnlyRedisKeepsAcknowledgedWritesAcrossKill()
    {
        await using var redis = await RedisServerProcess.StartAsync(new RedisServerOptions { AppendOnly = true, Password = "pw" });

        Assert.Equal("+OK", await RawCommandAsync(redis.Port, "AUTH pw\r\nSET k v", replies: 2, last: true));
        redis.Kill();
        Assert.False(redis.IsRunning);
        await redis.RestartAsync();

        Assert.Equal("$1\r\nv", await RawCommandAsync(redis.Port, "AUTH pw\r\nGET k", replies: 2, last: true));
    }

    [Fact]
    public void MissingBinariesAreNamedWithTheInstallCommand()
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", "/nonexistent");
            var error = Assert.Throws<ServerUnavailableException>(ServerBinaries.RedisServer);
            Assert.Contains("apt-get install -y redis-server", error.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    private static async Task<string> RawCommandAsync(int port, string commands, int replies = 1, bool last = false)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(commands + "\r\n"));
        var text = "";
        var buffer = new byte[4096];
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length < replies + (text.Contains('$') ? 1 : 0) && DateTime.UtcNow < deadline)
        {
            var n = await stream.ReadAsync(buffer);
            text += System.Text.Encoding.ASCII.GetString(buffer, 0, n);
        }

        var lines = text.TrimEnd().Split("\r\n");
        return last ? string.Join("\r\n", lines.Skip(1)) : lines[0];
    }
}

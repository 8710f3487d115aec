using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace LlmSecOps.Testing.Postgres;

/// <summary>
/// A throw-away PostgreSQL cluster on 127.0.0.1 (initdb + pg_ctl from the local server binaries), run as the
/// <c>postgres</c> user when the tests run as root (initdb refuses root), with fsync off: tests need speed, not
/// durability. Trust authentication on loopback only: the cluster lives for one test run.
/// </summary>
public sealed class PostgresServerProcess : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _dir;
    private readonly bool _asPostgresUser;
    private int _stopped;

    private PostgresServerProcess(string bin, string dir, int port, bool asPostgresUser)
    {
        _bin = bin;
        _dir = dir;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>Connection string to the <c>postgres</c> maintenance database as superuser.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Timeout=15;Command Timeout=60";

    /// <summary>Creates the cluster and starts it.</summary>
    public static async Task<PostgresServerProcess> StartAsync(int port = 0)
    {
        var bin = ServerBinaries.PostgresBin();
        var asPostgresUser = Environment.UserName == "root";
        var dir = Path.Combine(Path.GetTempPath(), "llmsecops-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        if (asPostgresUser)
        {
            await RunAsync("chown", ["postgres:postgres", dir], asPostgres: false);
        }

        var server = new PostgresServerProcess(bin, dir, port == 0 ? FreePort.Get() : port, asPostgresUser);
        await server.RunToolAsync("initdb", ["-D", Path.Combine(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
        await server.StartServerAsync();
        TestServers.TrackForExit(() => server.DisposeAsync().AsTask().Wait());
        return server;
    }

    /// <summary>Stops the server at once (like a crash: <c>pg_ctl stop -m immediate</c>).</summary>
    public Task KillAsync() => RunToolAsync("pg_ctl", ["-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"]);

    /// <summary>Starts the server again after <see cref="KillAsync"/>.</summary>
    public Task RestartAsync() => StartServerAsync();

    /// <summary>Creates a database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        StopImmediately();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
        catch (UnauthorizedAccessException)
        {
            // best effort
        }

        return ValueTask.CompletedTask;
    }

    private void StopImmediately()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        try
        {
            KillAsync().Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // already stopped
        }
    }

    private async Task StartServerAsync()
    {
        _stopped = 0;
        var options = string.Join(' ',
            $"-p {Port.ToString(CultureInfo.InvariantCulture)}",
            "-c listen_addresses=127.0.0.1",
            $"-c unix_socket_directories={_dir}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=300",
            "-c shared_buffers=64MB");
        await RunToolAsync("pg_ctl", ["-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "server.log"), "-o", options, "-w", "-t", "30", "start"]);
    }

    private Task RunToolAsync(string tool, string[] args) =>
        _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args], asPostgres: true, logFile: Path.Combine(_dir, "server.log"))
            : RunAsync(Path.Combine(_bin, tool), args, asPostgres: false, logFile: Path.Combine(_dir, "server.log"));

    private static async Task RunAsync(string file, string[] args, bool asPostgres, string? logFile = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/tmp",
        };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi) ?? throw new ServerUnavailableException($"Could not run {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        if (process.ExitCode != 0)
        {
            var log = logFile is not null && File.Exists(logFile) ? File.ReadAllText(logFile) : "";
            var hint = asPostgres ? " (run as the postgres user via runuser)" : "";
            throw new ServerUnavailableException(
                $"{Path.GetFileName(file)} {string.Join(' ', args)} failed with exit code {process.ExitCode}{hint}.\n{await stdout}\n{await stderr}\n{log}");
        }
    }
}

namespace LlmSecOps.Testing;

/// <summary>Finds the server binaries integration tests start, with an error that says how to install them.</summary>
public static class ServerBinaries
{
    /// <summary>Path of <c>redis-server</c>.</summary>
    public static string RedisServer() =>
        FindOnPath("redis-server")
        ?? throw new ServerUnavailableException(
            "redis-server was not found on PATH. Install it with: apt-get update && apt-get install -y redis-server " +
            "(or set LLMSECOPS_TEST_REDIS to the connection string of a Redis you run yourself).");

    /// <summary>The folder holding <c>initdb</c>, <c>pg_ctl</c> and <c>postgres</c>: the newest /usr/lib/postgresql/N/bin, else PATH.</summary>
    public static string PostgresBin()
    {
        const string root = "/usr/lib/postgresql";
        if (Directory.Exists(root))
        {
            var newest = Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(x => x.Version > 0 && File.Exists(Path.Combine(x.Dir, "bin", "initdb")))
                .OrderByDescending(x => x.Version)
                .Select(x => Path.Combine(x.Dir, "bin"))
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        var initdb = FindOnPath("initdb");
        return initdb is not null
            ? Path.GetDirectoryName(initdb)!
            : throw new ServerUnavailableException(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin or on PATH. " +
                "Install them with: apt-get update && apt-get install -y postgresql " +
                "(or set LLMSECOPS_TEST_POSTGRES to the connection string of a PostgreSQL you run yourself).");
    }

    /// <summary>Searches PATH for an executable.</summary>
    public static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>A test server could not be started; the message names the missing piece and how to fix it.</summary>
public sealed class ServerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace LlmSecOps.Data.Migrations;

/// <summary>
/// Applies a service's versioned SQL migrations to its own schema at start-up. Migrations are embedded resources
/// named <c>Migrations/&lt;yyyyMMddHHmm&gt;_&lt;name&gt;.sql</c> (timestamps, so parallel work never collides),
/// applied in id order, each in its own transaction together with its history row. A Postgres advisory lock per
/// schema makes several replicas starting at once safe: one applies, the others wait and then find nothing to do.
/// A migration already applied whose text changed is refused (history must not be rewritten).
/// </summary>
public static partial class MigrationRunner
{
    /// <summary>Applies pending migrations; returns the ids applied by this call.</summary>
    /// <param name="connectionString">Postgres connection string.</param>
    /// <param name="schema">The service's schema (lowercase identifier), created if missing; history lives in <c>{schema}.schema_migrations</c>.</param>
    /// <param name="assembly">Assembly whose embedded <c>.sql</c> resources under a <c>Migrations</c> folder are the migrations.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    public static Task<IReadOnlyList<string>> ApplyAsync(string connectionString, string schema, Assembly assembly, CancellationToken cancellationToken = default) =>
        ApplyAsync(connectionString, schema, Load(assembly), cancellationToken);

    /// <summary>Applies pending migrations from an explicit list (in id order); returns the ids applied by this call.</summary>
    public static async Task<IReadOnlyList<string>> ApplyAsync(string connectionString, string schema, IReadOnlyList<Migration> migrations, CancellationToken cancellationToken = default)
    {
        if (!SchemaName().IsMatch(schema))
        {
            throw new ArgumentException($"Schema '{schema}' must be a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most 63 chars).", nameof(schema));
        }

        migrations = [.. migrations.OrderBy(m => m.Id, StringComparer.Ordinal)];
        // One connection, once, at start-up: unpooled, so it does not stay open as an idle backend for the pool's idle
        // lifetime (5 minutes by default) after the service started, and the session's advisory lock dies with it.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);

        // Session-level advisory lock keyed by schema: replicas starting together serialise here.
        await ExecuteAsync(connection, null, "SELECT pg_advisory_lock(@k)", cancellationToken, ("k", LockKey(schema)));
        try
        {
            await ExecuteAsync(connection, null,
                $"CREATE SCHEMA IF NOT EXISTS {schema}; " +
                $"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (id text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                cancellationToken);

            var applied = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var read = new NpgsqlCommand($"SELECT id, checksum FROM {schema}.schema_migrations", connection))
            await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied[reader.GetString(0)] = reader.GetString(1);
                }
            }

            var done = new List<string>();
            foreach (var migration in migrations)
            {
                if (applied.TryGetValue(migration.Id, out var checksum))
                {
                    if (!string.Equals(checksum, migration.Checksum, StringComparison.Ordinal))
                    {
                        throw new MigrationException(
                            $"Migration {schema}/{migration.Id} was changed after it was applied (checksum {checksum} in the database, " +
                            $"{migration.Checksum} in the code). Never edit an applied migration: add a new one.");
                    }

                    continue;
                }

                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                try
                {
                    await ExecuteAsync(connection, transaction, $"SET LOCAL search_path TO {schema}, public", cancellationToken);
                    await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken);
                    await ExecuteAsync(connection, transaction, $"INSERT INTO {schema}.schema_migrations (id, checksum) VALUES (@id, @checksum)",
                        cancellationToken, ("id", migration.Id), ("checksum", migration.Checksum));
                    await transaction.CommitAsync(cancellationToken);
                }
                catch (PostgresException ex)
                {
                    await transaction.RollbackAsync(CancellationToken.None);
                    throw new MigrationException($"Migration {schema}/{migration.Id} failed and was rolled back: {ex.MessageText}", ex);
                }

                done.Add(migration.Id);
            }

            return done;
        }
        finally
        {
            await ExecuteAsync(connection, null, "SELECT pg_advisory_unlock(@k)", CancellationToken.None, ("k", LockKey(schema)));
        }
    }

    /// <summary>The migrations embedded in <paramref name="assembly"/>, in the order they apply.</summary>
    public static IReadOnlyList<Migration> Load(Assembly assembly)
    {
        var list = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            var match = ResourceName().Match(resource);
            if (!match.Success)
            {
                continue;
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            list.Add(Migration.From(match.Groups["id"].Value, reader.ReadToEnd()));
        }

        var duplicates = list.GroupBy(m => m.Id[..12]).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
        {
            throw new MigrationException($"Two migrations share the timestamp(s) {string.Join(", ", duplicates)}; give each its own.");
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    private static long LockKey(string schema)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("llmsecops.migrations." + schema));
        return BitConverter.ToInt64(hash, 0);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex SchemaName();

    // Resource names are <RootNamespace>.<folders>.Migrations.<id>.sql; the id is yyyyMMddHHmm_name.
    [GeneratedRegex(@"(^|\.)Migrations\.(?<id>\d{12}_[A-Za-z0-9_]+)\.sql$")]
    private static partial Regex ResourceName();
}

/// <summary>One migration.</summary>
/// <param name="Id">Its id, <c>yyyyMMddHHmm_name</c>.</param>
/// <param name="Sql">Its SQL.</param>
/// <param name="Checksum">SHA-256 of its text (line endings normalised).</param>
public sealed record Migration(string Id, string Sql, string Checksum)
{
    /// <summary>Creates a migration from its id and SQL, computing the checksum.</summary>
    public static Migration From(string id, string sql) =>
        new(id, sql, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n")))));
}

/// <summary>A migration could not be applied; the message says which and why.</summary>
public sealed class MigrationException(string message, Exception? inner = null) : Exception(message, inner);

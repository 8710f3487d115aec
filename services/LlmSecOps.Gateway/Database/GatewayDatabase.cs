using System.Data;
using Dapper;
using Npgsql;

namespace LlmSecOps.Gateway.Database;

/// <summary>
/// The gateway's Postgres access: one pooled <see cref="NpgsqlDataSource"/> whose connections use the
/// <see cref="Schema"/> schema. Every write that must not be half-done runs in <see cref="InTransactionAsync{T}"/>.
/// </summary>
public sealed class GatewayDatabase : IAsyncDisposable
{
    /// <summary>The schema the gateway's tables live in (its own migration history too).</summary>
    public const string Schema = "gateway";

    static GatewayDatabase()
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true;
    }

    public GatewayDatabase(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = Schema };
        ConnectionString = builder.ConnectionString;
        DataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>Connection string (with the schema search path).</summary>
    public string ConnectionString { get; }

    /// <summary>The pooled data source.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>Opens a pooled connection.</summary>
    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        DataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in one READ COMMITTED transaction and commits it; any exception rolls everything
    /// back, so a request never leaves a partial write behind.
    /// </summary>
    public async Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
}

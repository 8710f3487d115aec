using LlmSecOps.Data.Migrations;
using LlmSecOps.Testing;
using Npgsql;

namespace LlmSecOps.Data.Tests.Migrations;

public class MigrationRunnerTests
{
    [Fact]
    public async Task EmbeddedMigrationsApplyInOrderOnceAndAreRecorded()
    {
        var db = await TestServers.NewDatabaseAsync();

        var first = await MigrationRunner.ApplyAsync(db, "shop", typeof(MigrationRunnerTests).Assembly);
        var second = await MigrationRunner.ApplyAsync(db, "shop", typeof(MigrationRunnerTests).Assembly);

        Assert.Equal(["202611220100_create_widgets", "202611220200_add_widget_colour"], first);
        Assert.Empty(second);
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand("INSERT INTO shop.widgets (name) VALUES ('a') RETURNING colour", connection);
        Assert.Equal("blue", await insert.ExecuteScalarAsync());
        Assert.Equal(2L, await ScalarAsync(connection, "SELECT count(*) FROM shop.schema_migrations"));
    }

    [Fact]
    public async Task ReplicasStartingTogetherApplyEachMigrationExactlyOnce()
    {
        var db = await TestServers.NewDatabaseAsync();
        // CREATE TABLE without IF NOT EXISTS fails if run twice; the sleep widens the race window.
        Migration[] migrations =
        [
            Migration.From("202601010000_slow", "SELECT pg_sleep(0.3); CREATE TABLE once_only (id int);"),
            Migration.From("202601010100_more", "CREATE TABLE twice_not (id int);"),
        ];

        var runs = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => MigrationRunner.ApplyAsync(db, "race", migrations))));

        Assert.Equal(2, runs.Sum(r => r.Count));
        Assert.Single(runs, r => r.Count == 2);
    }

    [Fact]
    public async Task AFailingMigrationIsRolledBackAndLeavesNoHistory()
    {
        var db = await TestServers.NewDatabaseAsync();
        Migration[] migrations =
        [
            Migration.From("202601010000_ok", "CREATE TABLE good (id int);"),
            Migration.From("202601010100_bad", "CREATE TABLE half (id int); SELECT * FROM no_such_table;"),
        ];

        var error = await Assert.ThrowsAsync<MigrationException>(() => MigrationRunner.ApplyAsync(db, "fail", migrations));

        Assert.Contains("202601010100_bad", error.Message);
        Assert.Contains("no_such_table", error.Message);
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        Assert.Equal(1L, await ScalarAsync(connection, "SELECT count(*) FROM fail.schema_migrations"));
        Assert.Equal(0L, await ScalarAsync(connection, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'half'"));
    }

    [Fact]
    public async Task AnAppliedMigrationWhoseTextChangedIsRefused()
    {
        var db = await TestServers.NewDatabaseAsync();
        await MigrationRunner.ApplyAsync(db, "edit", [Migration.From("202601010000_a", "CREATE TABLE a (id int);")]);

        var error = await Assert.ThrowsAsync<MigrationException>(() =>
            MigrationRunner.ApplyAsync(db, "edit", [Migration.From("202601010000_a", "CREATE TABLE a (id bigint);")]));

        Assert.Contains("changed after it was applied", error.Message);
    }

    [Fact]
    public async Task SchemasKeepSeparateHistories()
    {
        var db = await TestServers.NewDatabaseAsync();
        Migration[] migrations = [Migration.From("202601010000_t", "CREATE TABLE t (id int);")];

        Assert.Single(await MigrationRunner.ApplyAsync(db, "scorer", migrations));
        Assert.Single(await MigrationRunner.ApplyAsync(db, "watcher", migrations));
    }

    [Theory]
    [InlineData("Public")]
    [InlineData("a;drop")]
    [InlineData("")]
    public async Task InvalidSchemaNamesAreRejected(string schema)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => MigrationRunner.ApplyAsync("Host=unused", schema, Array.Empty<Migration>()));
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}

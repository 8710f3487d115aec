using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;
using LlmSecOps.Testing.Postgres;
using Npgsql;
using Xunit.Abstractions;

namespace LlmSecOps.Data.Tests.Batching;

/// <summary>
/// The request-record sink the gateway needs, in miniature: one multi-row INSERT per batch (one statement, so a
/// batch is all or nothing) with <c>ON CONFLICT (id) DO NOTHING</c>, so a batch replayed after an unacknowledged
/// commit is absorbed by the unique id. It counts the rows the unique id absorbed.
/// </summary>
internal sealed class PostgresRecordSink(NpgsqlDataSource dataSource) : IBatchSink<TestRecord>
{
    public long DuplicatesAbsorbed;

    public static string Schema => "CREATE TABLE test_records (id uuid PRIMARY KEY, seq bigint NOT NULL, payload text NOT NULL)";

    public async Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
    {
        var ids = new Guid[batch.Count];
        var seqs = new long[batch.Count];
        var payloads = new string[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            (ids[i], seqs[i], payloads[i]) = (batch[i].Id, batch[i].Seq, batch[i].Payload);
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "INSERT INTO test_records (id, seq, payload) SELECT * FROM unnest(@ids, @seqs, @payloads) ON CONFLICT (id) DO NOTHING", connection);
        command.Parameters.AddWithValue("ids", ids);
        command.Parameters.AddWithValue("seqs", seqs);
        command.Parameters.AddWithValue("payloads", payloads);
        var inserted = await command.ExecuteNonQueryAsync(cancellationToken);
        Interlocked.Add(ref DuplicatesAbsorbed, batch.Count - inserted);
    }
}

/// <summary>
/// Fault injection around a real sink: the second batch is committed to Postgres and then reported as failed, as
/// when the connection drops after COMMIT but before its reply arrives.
/// </summary>
internal sealed class AcknowledgementLostOnce(IBatchSink<TestRecord> inner) : IBatchSink<TestRecord>
{
    private int _calls;

    public bool Lost { get; private set; }

    public async Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
    {
        await inner.WriteAsync(batch, cancellationToken);
        if (Interlocked.Increment(ref _calls) == 2)
        {
            Lost = true;
            throw new IOException("connection lost after COMMIT (injected)");
        }
    }
}

/// <summary>A private PostgreSQL these tests may kill and restart (the shared one must stay up for other tests).</summary>
public sealed class PrivatePostgres : IAsyncLifetime
{
    public PostgresServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServerProcess.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class PostgresSinkOutageTests(PrivatePostgres postgres, ITestOutputHelper output) : IClassFixture<PrivatePostgres>, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "llmsecops-pgsink-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task PostgresKilledMidStreamAndRestartedEndsWithEveryRecordInTheTableExactlyOnce()
    {
        const int Total = 6000;
        await using var dataSource = await NewDatabaseAsync();
        var sink = new PostgresRecordSink(dataSource);
        using var journal = OpenJournal(64L << 20);
        var writer = NewWriter(sink, journal);
        var records = Enumerable.Range(0, Total).Select(i => TestRecord.Make(i)).ToArray();

        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < Total; i++)
            {
                Assert.True(writer.CanAccept);
                Assert.True(writer.TryEnqueue(records[i]));
                if (i % 100 == 99)
                {
                    await Task.Delay(25);
                }
            }
        });

        await Eventually.TrueAsync(() => writer.WrittenCount >= 1000, "first records written directly");
        await postgres.Server.KillAsync();
        await Eventually.TrueAsync(() => writer.IsSpilling && writer.SpilledCount >= 500, "records spilled while Postgres is down");
        await Task.Delay(500);
        await postgres.Server.RestartAsync();
        await producer;
        await Eventually.TrueAsync(() => !writer.IsSpilling && writer.QueueLength == 0 && journal.PendingRecords == 0, "journal drained", seconds: 60);
        await writer.DisposeAsync();

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var count = new NpgsqlCommand("SELECT count(*), count(DISTINCT id), min(seq), max(seq) FROM test_records", connection);
        await using var reader = await count.ExecuteReaderAsync();
        await reader.ReadAsync();
        output.WriteLine(
            $"written directly {writer.WrittenCount}, spilled {writer.SpilledCount}, drained {writer.DrainedCount}, sink failures {writer.SinkFailureCount}, " +
            $"duplicates absorbed by the unique id {sink.DuplicatesAbsorbed}");
        Assert.Equal(Total, reader.GetInt64(0));
        Assert.Equal(Total, reader.GetInt64(1));
        Assert.Equal(0, reader.GetInt64(2));
        Assert.Equal(Total - 1, reader.GetInt64(3));
        Assert.True(writer.SpilledCount >= 500);
        Assert.Equal(writer.SpilledCount, writer.DrainedCount);
        Assert.Equal(Total, writer.WrittenCount + writer.SpilledCount);
        Assert.Equal(0, writer.LostCount);
    }

    [Fact]
    public async Task JournalFillingUpWhilePostgresIsDownRefusesTrafficAndAcceptsAgainAfterTheDrain()
    {
        await using var dataSource = await NewDatabaseAsync();
        var sink = new PostgresRecordSink(dataSource);
        using var journal = OpenJournal(32 * 1024);
        await using var writer = NewWriter(sink, journal);
        await postgres.Server.KillAsync();
        var accepted = 0;
        try
        {
            while (writer.CanAccept && accepted < 20_000)
            {
                Assert.True(writer.TryEnqueue(TestRecord.Make(accepted)));
                accepted++;
                if (accepted % 100 == 0)
                {
                    await Task.Delay(10);
                }
            }

            await Eventually.TrueAsync(() => !writer.CanAccept, "CanAccept false once the journal is full");
            Assert.True(journal.IsFull);
            Assert.True(accepted < 20_000, "the journal never filled");
        }
        finally
        {
            await postgres.Server.RestartAsync();
        }

        await Eventually.TrueAsync(() => writer.CanAccept, "CanAccept true after Postgres returns", seconds: 60);
        await Eventually.TrueAsync(() => !writer.IsSpilling && writer.QueueLength == 0 && journal.PendingRecords == 0, "drained", seconds: 60);
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var count = new NpgsqlCommand("SELECT count(DISTINCT id) FROM test_records", connection);
        Assert.Equal((long)accepted, await count.ExecuteScalarAsync());
        output.WriteLine($"accepted {accepted} records before the 32 KiB journal filled; all stored after the restart");
    }

    [Fact]
    public async Task BatchStoredButNotAcknowledgedIsReplayedAndTheUniqueIdKeepsOneRowPerRecord()
    {
        await using var dataSource = await NewDatabaseAsync();
        var postgresSink = new PostgresRecordSink(dataSource);
        var sink = new AcknowledgementLostOnce(postgresSink);
        using var journal = OpenJournal(64L << 20);
        await using (var writer = NewWriter(sink, journal))
        {
            for (var i = 0; i < 1000; i++)
            {
                writer.TryEnqueue(TestRecord.Make(i));
            }

            await Eventually.TrueAsync(() => writer.QueueLength == 0 && !writer.IsSpilling && journal.PendingRecords == 0, "delivered");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM test_records", connection);
        Assert.True(sink.Lost, "the fault was never injected");
        Assert.True(postgresSink.DuplicatesAbsorbed > 0, "the replayed batch should have hit the unique id");
        Assert.Equal(1000L, await count.ExecuteScalarAsync());
        output.WriteLine($"{postgresSink.DuplicatesAbsorbed} replayed rows absorbed by ON CONFLICT (id) DO NOTHING");
    }

    [Fact]
    public async Task CrashThatTearsTheLastJournalRecordLosesOnlyThatRecordAndTheRestReachPostgres()
    {
        const int Total = 800;
        var down = new SwitchableSink { Down = true };
        using (var journal = OpenJournal(64L << 20))
        {
            var writer = NewWriter(down, journal);
            for (var i = 0; i < Total; i++)
            {
                writer.TryEnqueue(TestRecord.Make(i));
            }

            await Eventually.TrueAsync(() => journal.PendingRecords == Total, "all records journaled");
            await writer.DisposeAsync();
        }

        // The crash: the last append reached the disk only partly.
        var last = Directory.GetFiles(_directory, "*.seg").Order(StringComparer.Ordinal).Last();
        using (var file = new FileStream(last, FileMode.Open))
        {
            file.SetLength(file.Length - 10);
        }

        await using var dataSource = await NewDatabaseAsync();
        using (var journal = OpenJournal(64L << 20))
        {
            Assert.Equal(Total - 1, journal.PendingRecords);
            await using var writer = NewWriter(new PostgresRecordSink(dataSource), journal);
            await Eventually.TrueAsync(() => !writer.IsSpilling && journal.PendingRecords == 0, "journal replayed into Postgres");
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var query = new NpgsqlCommand("SELECT count(*), max(seq) FROM test_records", connection);
        await using var reader = await query.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(Total - 1, reader.GetInt64(0));
        Assert.Equal(Total - 2, reader.GetInt64(1));
    }

    private async Task<NpgsqlDataSource> NewDatabaseAsync()
    {
        var name = "pipeline_" + Guid.NewGuid().ToString("N")[..12];
        string connectionString;
        try
        {
            connectionString = await postgres.Server.CreateDatabaseAsync(name);
        }
        catch (NpgsqlException)
        {
            // A pooled maintenance connection may still point at the server an earlier test of this class killed.
            NpgsqlConnection.ClearAllPools();
            connectionString = await postgres.Server.CreateDatabaseAsync(name);
        }

        // The throw-away server runs with synchronous_commit=off; the sink asks for it on, so an acknowledged commit
        // survives the immediate shutdown the test inflicts (as it would on a production server).
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Options = "-c synchronous_commit=on",
            Timeout = 2,
            CommandTimeout = 5,
        };
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        await using var create = dataSource.CreateCommand(PostgresRecordSink.Schema);
        await create.ExecuteNonQueryAsync();
        return dataSource;
    }

    private RecordJournal OpenJournal(long maxTotalBytes) => RecordJournal.Open(new JournalOptions
    {
        Directory = _directory,
        SegmentBytes = Math.Min(64 * 1024, maxTotalBytes),
        MaxRecordBytes = 1024,
        MaxTotalBytes = maxTotalBytes,
    });

    private static DurableBatchWriter<TestRecord> NewWriter(IBatchSink<TestRecord> sink, RecordJournal journal) => new(
        sink,
        TestRecord.Serializer,
        journal,
        new DurableBatchWriterOptions
        {
            Name = "pg-test",
            QueueCapacity = 20_000,
            MaxBatchSize = 200,
            MaxBatchDelay = TimeSpan.FromMilliseconds(20),
            SinkTimeout = TimeSpan.FromSeconds(5),
            RecoveryMinDelay = TimeSpan.FromMilliseconds(100),
            RecoveryMaxDelay = TimeSpan.FromSeconds(1),
        });
}

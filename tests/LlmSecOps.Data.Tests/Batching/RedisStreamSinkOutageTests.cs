using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;
using LlmSecOps.Redis;
using LlmSecOps.Testing.Redis;
using Xunit.Abstractions;

namespace LlmSecOps.Data.Tests.Batching;

/// <summary>
/// The request-event sink in miniature: one pipelined XADD per record (all sent, then all awaited). A batch that
/// fails part-way has some entries in the stream already, and replaying it adds them again: at-least-once, the
/// consumer de-duplicates on the record's id (request_id in the real events).
/// </summary>
internal sealed class RedisStreamSink(RedisConnection redis, string stream) : IBatchSink<TestRecord>
{
    public async Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
    {
        var pending = new Task<string>[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            pending[i] = redis.XAddAsync(stream, [("id", batch[i].Id.ToString("N")), ("seq", batch[i].Seq)]);
        }

        await Task.WhenAll(pending).WaitAsync(cancellationToken);
    }
}

public sealed class RedisStreamSinkOutageTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "llmsecops-redissink-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task RedisKilledMidStreamAndRestartedEndsWithEveryEventInTheStreamAtLeastOnce()
    {
        const int Total = 4000;
        const string Stream = "test:events";

        // appendfsync always: an XADD Redis acknowledged before the kill is still there after the restart.
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { AppendOnly = true });
        await using var redis = await RedisConnection.ConnectAsync(server.ConnectionString + ",connectTimeout=5000,syncTimeout=2000");
        var sink = new RedisStreamSink(redis, Stream);
        using var journal = RecordJournal.Open(new JournalOptions { Directory = _directory, SegmentBytes = 64 * 1024, MaxRecordBytes = 1024, MaxTotalBytes = 64L << 20 });
        var writer = new DurableBatchWriter<TestRecord>(
            sink,
            TestRecord.Serializer,
            journal,
            new DurableBatchWriterOptions
            {
                Name = "redis-test",
                MaxBatchSize = 200,
                MaxBatchDelay = TimeSpan.FromMilliseconds(20),
                SinkTimeout = TimeSpan.FromSeconds(3),
                RecoveryMinDelay = TimeSpan.FromMilliseconds(100),
                RecoveryMaxDelay = TimeSpan.FromSeconds(1),
            });
        var records = Enumerable.Range(0, Total).Select(i => TestRecord.Make(i)).ToArray();
        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < Total; i++)
            {
                Assert.True(writer.TryEnqueue(records[i]));
                if (i % 100 == 99)
                {
                    await Task.Delay(25);
                }
            }
        });

        await Eventually.TrueAsync(() => writer.WrittenCount >= 800, "first events written directly");
        server.Kill();
        await Eventually.TrueAsync(() => writer.IsSpilling && writer.SpilledCount >= 400, "events spilled while Redis is down");
        await Task.Delay(300);
        await server.RestartAsync();
        await producer;
        await Eventually.TrueAsync(() => !writer.IsSpilling && writer.QueueLength == 0 && journal.PendingRecords == 0, "journal drained", seconds: 60);
        await writer.DisposeAsync();

        var entries = (await redis.ExecuteAsync("XRANGE", Stream, "-", "+")).AsArray()!;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var fields = entry[1];
            ids.Add(fields[1].AsString()!);
        }

        output.WriteLine(
            $"{entries.Length} stream entries for {Total} events ({entries.Length - ids.Count} repeats); written directly {writer.WrittenCount}, " +
            $"spilled {writer.SpilledCount}, drained {writer.DrainedCount}, sink failures {writer.SinkFailureCount}");
        Assert.True(records.All(r => ids.Contains(r.Id.ToString("N"))), $"{Total - ids.Count} events missing from the stream");
        Assert.Equal(Total, ids.Count);
        Assert.True(writer.SpilledCount >= 400);
        Assert.Equal(0, writer.LostCount);
    }
}

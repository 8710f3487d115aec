using System.Diagnostics.Metrics;
using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;

namespace LlmSecOps.Data.Tests.Batching;

public sealed class DurableBatchWriterTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "llmsecops-writer-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task RecordsReachAHealthySinkInBatchesWithoutTouchingTheJournal()
    {
        using var journal = OpenJournal();
        var sink = new SwitchableSink();
        await using (var writer = NewWriter(sink, journal))
        {
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(writer.TryEnqueue(TestRecord.Make(i)));
            }
        }

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), sink.Stored.Select(r => r.Seq));
        Assert.True(sink.Calls < 1000, $"{sink.Calls} sink calls for 1000 records: not batched");
        Assert.Equal(0, journal.PendingRecords);
        Assert.Equal(0, journal.UsedBytes);
    }

    [Fact]
    public async Task AWriterThatOwnsItsJournalReleasesTheDirectoryOnDisposeSoItCanBeReopenedAtOnce()
    {
        var borrowed = OpenJournal();
        await using (var writer = NewWriter(new SwitchableSink(), borrowed))
        {
            Assert.True(writer.TryEnqueue(TestRecord.Make(1)));
        }

        // Not owned: the journal (and its directory lock) outlives the writer, as its opener expects.
        Assert.ThrowsAny<IOException>(() => OpenJournal().Dispose());
        borrowed.Dispose();

        var owned = OpenJournal();
        var options = new DurableBatchWriterOptions { Name = "owner", OwnsJournal = true };
        await using (var writer = new DurableBatchWriter<TestRecord>(new SwitchableSink(), TestRecord.Serializer, owned, options))
        {
            Assert.True(writer.TryEnqueue(TestRecord.Make(2)));
        }

        // Owned: disposing the writer closed the journal, so a restarted writer in this process can take the directory.
        using var reopened = OpenJournal();
        Assert.Equal(0, reopened.PendingRecords);
    }

    [Fact]
    public async Task SinkOutageSpillsToTheJournalAndRecoveryDeliversEveryRecordOnceInOrder()
    {
        using var journal = OpenJournal();
        var sink = new SwitchableSink();
        await using var writer = NewWriter(sink, journal);
        for (var i = 0; i < 300; i++)
        {
            writer.TryEnqueue(TestRecord.Make(i));
        }

        await Eventually.TrueAsync(() => sink.Stored.Count == 300, "first records stored");
        sink.Down = true;
        for (var i = 300; i < 1300; i++)
        {
            Assert.True(writer.TryEnqueue(TestRecord.Make(i)));
        }

        await Eventually.TrueAsync(() => writer.SpilledCount == 1000, "records spilled");
        Assert.True(writer.IsSpilling);
        Assert.True(writer.CanAccept);
        Assert.Equal(1000, journal.PendingRecords);

        sink.Down = false;
        await Eventually.TrueAsync(() => !writer.IsSpilling, "recovery");
        for (var i = 1300; i < 1400; i++)
        {
            writer.TryEnqueue(TestRecord.Make(i));
        }

        await Eventually.TrueAsync(() => sink.Stored.Count >= 1400, "all records stored");
        Assert.Equal(Enumerable.Range(0, 1400).Select(i => (long)i), sink.Stored.Select(r => r.Seq));
        Assert.Equal(1000, writer.DrainedCount);
        Assert.Equal(0, journal.PendingRecords);
    }

    [Fact]
    public async Task FullJournalWithTheSinkDownFlipsCanAcceptUntilTheJournalIsDrained()
    {
        using var journal = OpenJournal(maxTotalBytes: 16 * 1024);
        var sink = new SwitchableSink { Down = true };
        await using var writer = NewWriter(sink, journal);
        var enqueued = 0;
        while (writer.CanAccept && enqueued < 5000)
        {
            writer.TryEnqueue(TestRecord.Make(enqueued++));
            if (enqueued % 50 == 0)
            {
                await Task.Delay(5);
            }
        }

        await Eventually.TrueAsync(() => !writer.CanAccept, "CanAccept false");
        Assert.True(writer.IsFull);
        Assert.True(journal.IsFull);
        Assert.True(enqueued < 5000, "the journal never filled");

        sink.Down = false;
        await Eventually.TrueAsync(() => writer.CanAccept && !writer.IsSpilling, "CanAccept true again after the drain");
        await Eventually.TrueAsync(() => sink.Stored.Count == enqueued, "every accepted record stored");
        Assert.Equal(Enumerable.Range(0, enqueued).Select(i => (long)i), sink.Stored.Select(r => r.Seq));
        Assert.Equal(0, writer.LostCount);
    }

    [Fact]
    public async Task ShutdownWithTheSinkDownJournalsTheQueueAndTheNextStartDeliversIt()
    {
        var sink = new SwitchableSink { Down = true };
        using (var journal = OpenJournal())
        {
            var writer = NewWriter(sink, journal);
            for (var i = 0; i < 700; i++)
            {
                writer.TryEnqueue(TestRecord.Make(i));
            }

            await writer.DisposeAsync();
            Assert.False(writer.TryEnqueue(TestRecord.Make(-1)));
            Assert.Equal(700, journal.PendingRecords);
        }

        sink.Down = false;
        using (var journal = OpenJournal())
        {
            await using var writer = NewWriter(sink, journal);
            writer.TryEnqueue(TestRecord.Make(700));
            await Eventually.TrueAsync(() => sink.Stored.Count == 701, "backlog and new record stored");
            Assert.Equal(Enumerable.Range(0, 701).Select(i => (long)i), sink.Stored.Select(r => r.Seq));
        }
    }

    [Fact]
    public async Task ShutdownFinishesDrainingABacklogWhileTheSinkAcceptsIt()
    {
        using var journal = OpenJournal();
        journal.AppendMany(Enumerable.Range(0, 2000).Select(i => TestRecord.Serializer.Serialize(TestRecord.Make(i))).ToList());
        var sink = new SlowSink(TimeSpan.FromMilliseconds(20));
        var writer = NewWriter(sink, journal);
        await Eventually.TrueAsync(() => writer.DrainedCount > 0, "drain started");

        await writer.DisposeAsync();

        Assert.Equal(0, journal.PendingRecords);
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => (long)i), sink.Stored.Select(r => r.Seq));
    }

    [Fact]
    public async Task MetricsReportSpilledAndDrainedRecordsOnALlmSecOpsMeter()
    {
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == DurableBatchWriter<TestRecord>.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        var pipeline = "metrics-" + Guid.NewGuid().ToString("N");
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "pipeline" && (string?)tag.Value == pipeline)
                {
                    lock (seen)
                    {
                        seen[instrument.Name] = seen.GetValueOrDefault(instrument.Name) + value;
                    }
                }
            }
        });
        listener.Start();

        using var journal = OpenJournal();
        var sink = new SwitchableSink { Down = true };
        await using (var writer = NewWriter(sink, journal, pipeline))
        {
            for (var i = 0; i < 50; i++)
            {
                writer.TryEnqueue(TestRecord.Make(i));
            }

            await Eventually.TrueAsync(() => writer.SpilledCount == 50, "spilled");
            sink.Down = false;
            await Eventually.TrueAsync(() => writer.DrainedCount == 50, "drained");
        }

        Assert.StartsWith("LlmSecOps.", DurableBatchWriter<TestRecord>.MeterName, StringComparison.Ordinal);
        lock (seen)
        {
            Assert.Equal(50, seen["llmsecops.records.enqueued"]);
            Assert.Equal(50, seen["llmsecops.records.spilled"]);
            Assert.Equal(50, seen["llmsecops.records.drained"]);
            Assert.True(seen["llmsecops.records.sink_failures"] >= 1);
        }
    }

    [Fact]
    public async Task FullQueueRefusesRecordsAndTurnsCanAcceptOffUntilTheSinkCatchesUp()
    {
        using var journal = OpenJournal();
        var sink = new GatedSink();
        await using var writer = new DurableBatchWriter<TestRecord>(
            sink,
            TestRecord.Serializer,
            journal,
            new DurableBatchWriterOptions { QueueCapacity = 50, MaxBatchSize = 10, MaxBatchDelay = TimeSpan.Zero });

        var accepted = 0;
        for (var i = 0; i < 100; i++)
        {
            accepted += writer.TryEnqueue(TestRecord.Make(i)) ? 1 : 0;
        }

        Assert.Equal(50, accepted);
        Assert.Equal(50, writer.RejectedCount);
        Assert.False(writer.CanAccept);

        sink.Gate.Release(1000);
        await Eventually.TrueAsync(() => writer.CanAccept && writer.QueueLength == 0, "queue drained");
        Assert.Equal(50, sink.Stored.Count);
    }

    [Fact]
    public async Task RecordTheSerializerCannotWriteIsCountedLostAndDoesNotStopTheOthers()
    {
        using var journal = OpenJournal();
        var sink = new SwitchableSink { Down = true };
        var serializer = new FailingOn(13);
        await using var writer = new DurableBatchWriter<TestRecord>(
            sink,
            serializer,
            journal,
            new DurableBatchWriterOptions { MaxBatchDelay = TimeSpan.FromMilliseconds(5), RecoveryMinDelay = TimeSpan.FromMilliseconds(20) });
        for (var i = 0; i < 30; i++)
        {
            writer.TryEnqueue(TestRecord.Make(i));
        }

        await Eventually.TrueAsync(() => writer.SpilledCount + writer.LostCount == 30, "batch handled");
        sink.Down = false;
        await Eventually.TrueAsync(() => sink.Stored.Count == 29, "the other records delivered");
        Assert.Equal(1, writer.LostCount);
        Assert.DoesNotContain(sink.Stored, r => r.Seq == 13);
    }

    [Fact]
    public void InvalidWriterOptionsAreAllReportedAtOnce()
    {
        using var journal = OpenJournal();
        var options = new DurableBatchWriterOptions { Name = "", QueueCapacity = 0, MaxBatchSize = 0, SinkTimeout = TimeSpan.Zero };

        var error = Assert.Throws<ArgumentException>(() => new DurableBatchWriter<TestRecord>(new SwitchableSink(), TestRecord.Serializer, journal, options));

        Assert.Contains("Name is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("QueueCapacity", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxBatchSize", error.Message, StringComparison.Ordinal);
        Assert.Contains("SinkTimeout", error.Message, StringComparison.Ordinal);
    }

    private RecordJournal OpenJournal(long maxTotalBytes = 64L << 20) => RecordJournal.Open(new JournalOptions
    {
        Directory = _directory,
        SegmentBytes = Math.Min(4096, maxTotalBytes),
        MaxRecordBytes = 1024,
        MaxTotalBytes = maxTotalBytes,
    });

    private static DurableBatchWriter<TestRecord> NewWriter(IBatchSink<TestRecord> sink, RecordJournal journal, string name = "test") => new(
        sink,
        TestRecord.Serializer,
        journal,
        new DurableBatchWriterOptions
        {
            Name = name,
            QueueCapacity = 2000,
            MaxBatchSize = 100,
            MaxBatchDelay = TimeSpan.FromMilliseconds(10),
            RecoveryMinDelay = TimeSpan.FromMilliseconds(20),
            RecoveryMaxDelay = TimeSpan.FromMilliseconds(200),
        });

    private sealed class GatedSink : IBatchSink<TestRecord>
    {
        public SemaphoreSlim Gate { get; } = new(0);

        public List<TestRecord> Stored { get; } = [];

        public async Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
        {
            await Gate.WaitAsync(cancellationToken);
            lock (Stored)
            {
                Stored.AddRange(batch);
            }
        }
    }

    private sealed class FailingOn(long seq) : IRecordSerializer<TestRecord>
    {
        public byte[] Serialize(TestRecord record) =>
            record.Seq == seq ? throw new NotSupportedException("cannot serialise this one") : TestRecord.Serializer.Serialize(record);

        public TestRecord Deserialize(ReadOnlySpan<byte> data) => TestRecord.Serializer.Deserialize(data);
    }

    private sealed class SlowSink(TimeSpan delay) : IBatchSink<TestRecord>
    {
        public List<TestRecord> Stored { get; } = [];

        public async Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, cancellationToken);
            lock (Stored)
            {
                Stored.AddRange(batch);
            }
        }
    }
}

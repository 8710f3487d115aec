using System.Text;
using LlmSecOps.Data.Journal;

namespace LlmSecOps.Data.Tests.Journal;

public sealed class RecordJournalTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "llmsecops-journal-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void RecordsReadBackInOrderAcrossSegmentsAndAfterReopening()
    {
        using (var journal = Open(segmentBytes: 1024))
        {
            for (var i = 0; i < 200; i++)
            {
                Assert.True(journal.TryAppend(Record(i)));
            }

            Assert.True(journal.SegmentCount > 1, $"expected several segments, got {journal.SegmentCount}");
        }

        using var reopened = Open(segmentBytes: 1024);
        Assert.Equal(200, reopened.PendingRecords);
        Assert.Equal(Enumerable.Range(0, 200).Select(Text), ReadAll(reopened, commit: false));
    }

    [Fact]
    public void SegmentsLargerThanTheScanBufferAreVerifiedWholeOnReopen()
    {
        var options = Options(segmentBytes: 8 << 20, maxTotalBytes: 16 << 20);
        options.MaxRecordBytes = 2048;
        var records = Enumerable.Range(0, 4000).Select(i => Encoding.UTF8.GetBytes(Text(i) + new string('y', 300 + (i % 700)))).ToList();
        using (var journal = RecordJournal.Open(options))
        {
            Assert.Equal(4000, journal.AppendMany(records));
            Assert.True(journal.UsedBytes > 2 << 20, "the segment must span several 1 MiB scan buffers");
        }

        using var reopened = RecordJournal.Open(options);
        Assert.Equal(4000, reopened.PendingRecords);
        var read = reopened.ReadBatch(10_000).Records;
        Assert.Equal(records.Select(Convert.ToHexString), read.Select(Convert.ToHexString));
    }

    [Fact]
    public void CommittedRecordsAreNotReplayedAfterRestartButUncommittedOnesAre()
    {
        using (var journal = Open(segmentBytes: 1024))
        {
            journal.AppendMany(Enumerable.Range(0, 100).Select(Record).ToList());
            var first = journal.ReadBatch(30);
            journal.Commit(first);
            _ = journal.ReadBatch(30); // read (handed to a sink) but never acknowledged: must come back
        }

        using var reopened = Open(segmentBytes: 1024);
        Assert.Equal(70, reopened.PendingRecords);
        Assert.Equal(Enumerable.Range(30, 70).Select(Text), ReadAll(reopened, commit: true));
        Assert.Equal(0, reopened.PendingRecords);
    }

    [Fact]
    public void FullyConsumedSegmentsAreDeleted()
    {
        using var journal = Open(segmentBytes: 1024);
        journal.AppendMany(Enumerable.Range(0, 300).Select(Record).ToList());
        var segmentsBefore = Directory.GetFiles(_directory, "*.seg").Length;
        var usedBefore = journal.UsedBytes;

        ReadAll(journal, commit: true);

        Assert.True(segmentsBefore > 3, $"expected several segments, got {segmentsBefore}");
        Assert.Single(Directory.GetFiles(_directory, "*.seg"));
        Assert.True(journal.UsedBytes < usedBefore / 3, $"used {journal.UsedBytes} of {usedBefore}");
    }

    [Fact]
    public void CrashMidRecordLosesOnlyTheTornRecordAndTheJournalKeepsWorking()
    {
        using (var journal = Open(segmentBytes: 4096))
        {
            for (var i = 0; i < 500; i++)
            {
                journal.TryAppend(Record(i));
            }

            journal.Commit(journal.ReadBatch(100));
        }

        // The crash: the last write reached the disk only partly (cut in the middle of the last record's payload).
        var last = Directory.GetFiles(_directory, "*.seg").Order(StringComparer.Ordinal).Last();
        var length = new FileInfo(last).Length;
        using (var file = new FileStream(last, FileMode.Open))
        {
            file.SetLength(length - 5);
        }

        using var reopened = Open(segmentBytes: 4096);
        Assert.Equal(399, reopened.PendingRecords);
        Assert.Equal(length - 5 - (Record(499).Length + 3), new FileInfo(last).Length);
        Assert.True(reopened.TryAppend(Record(1000)));
        Assert.Equal(Enumerable.Range(100, 399).Select(Text).Append(Text(1000)), ReadAll(reopened, commit: true));
    }

    [Fact]
    public void CorruptedLastRecordIsDetectedByItsChecksumAndCutOff()
    {
        using (var journal = Open(segmentBytes: 1 << 20))
        {
            journal.AppendMany(Enumerable.Range(0, 10).Select(Record).ToList());
        }

        var segment = Directory.GetFiles(_directory, "*.seg").Single();
        var bytes = File.ReadAllBytes(segment);
        bytes[^6] ^= 0x20; // a flipped bit inside the last payload; the length still looks plausible
        File.WriteAllBytes(segment, bytes);

        using var reopened = Open(segmentBytes: 1 << 20);
        Assert.Equal(Enumerable.Range(0, 9).Select(Text), ReadAll(reopened, commit: false));
    }

    [Fact]
    public void FullJournalRefusesRecordsUntilConsumedSegmentsFreeRoom()
    {
        using var journal = Open(segmentBytes: 1024, maxTotalBytes: 4096);
        var appended = 0;
        while (journal.TryAppend(Record(appended)))
        {
            appended++;
        }

        Assert.True(journal.IsFull);
        Assert.False(journal.CanFit(Record(0).Length));
        Assert.True(journal.UsedBytes <= 4096);
        Assert.Equal(0, journal.AppendMany([Record(9999)]));

        ReadAll(journal, commit: true);

        Assert.False(journal.IsFull);
        Assert.True(journal.TryAppend(Record(appended)));
    }

    [Fact]
    public void SecondWriterOnTheSameFolderIsRefusedUntilTheFirstCloses()
    {
        var first = Open(segmentBytes: 1024);
        var error = Assert.Throws<JournalLockedException>(() => Open(segmentBytes: 1024));
        Assert.Contains("its own journal folder", error.Message, StringComparison.Ordinal);

        first.Dispose();
        using var second = Open(segmentBytes: 1024);
        Assert.True(second.TryAppend(Record(1)));
    }

    [Fact]
    public async Task AnotherProcessCannotLockTheFolderWhileTheJournalIsOpen()
    {
        Assert.True(OperatingSystem.IsLinux(), "this test drives flock(1) from util-linux");
        var lockFile = Path.Combine(_directory, "journal.lock");
        using (Open(segmentBytes: 1024))
        {
            Assert.Equal(1, await FlockAsync(lockFile)); // flock -n exits 1 when the lock is held elsewhere
        }

        Assert.Equal(0, await FlockAsync(lockFile));
    }

    [Fact]
    public void IntervalFsyncPolicyStillReadsBackEverything()
    {
        var options = Options(segmentBytes: 1024);
        options.FsyncPolicy = JournalFsyncPolicy.Interval;
        options.FsyncInterval = TimeSpan.FromMilliseconds(5);
        using (var journal = RecordJournal.Open(options))
        {
            journal.AppendMany(Enumerable.Range(0, 50).Select(Record).ToList());
            Thread.Sleep(20);
        }

        using var reopened = Open(segmentBytes: 1024);
        Assert.Equal(Enumerable.Range(0, 50).Select(Text), ReadAll(reopened, commit: false));
    }

    [Fact]
    public void InvalidOptionsAreAllReportedAtOnce()
    {
        var options = new JournalOptions { Directory = "", MaxRecordBytes = 100, SegmentBytes = 50, MaxTotalBytes = 10 };

        var error = Assert.Throws<ArgumentException>(() => RecordJournal.Open(options));

        Assert.Contains("Directory is required", error.Message, StringComparison.Ordinal);
        Assert.Contains("SegmentBytes (50)", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxTotalBytes (10)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CommittingOutOfOrderIsRefused()
    {
        using var journal = Open(segmentBytes: 1024);
        journal.AppendMany(Enumerable.Range(0, 10).Select(Record).ToList());
        var batch = journal.ReadBatch(5);
        journal.Commit(batch);

        Assert.Throws<InvalidOperationException>(() => journal.Commit(batch));
    }

    private static async Task<int> FlockAsync(string path)
    {
        var start = new System.Diagnostics.ProcessStartInfo("flock") { ArgumentList = { "-n", "-E", "1", path, "true" } };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }

    private RecordJournal Open(long segmentBytes, long maxTotalBytes = 1 << 20) => RecordJournal.Open(Options(segmentBytes, maxTotalBytes));

    private JournalOptions Options(long segmentBytes, long maxTotalBytes = 1 << 20) => new()
    {
        Directory = _directory,
        SegmentBytes = segmentBytes,
        MaxRecordBytes = 256,
        MaxTotalBytes = maxTotalBytes,
    };

    private static string Text(int i) => $"record-{i:D6}-" + new string('x', i % 17);

    private static byte[] Record(int i) => Encoding.UTF8.GetBytes(Text(i));

    private static List<string> ReadAll(RecordJournal journal, bool commit)
    {
        var all = new List<string>();
        if (!commit)
        {
            var batch = journal.ReadBatch(100_000);
            return batch.Records.Select(r => Encoding.UTF8.GetString(r)).ToList();
        }

        while (true)
        {
            var batch = journal.ReadBatch(7);
            if (batch.Count == 0)
            {
                return all;
            }

            all.AddRange(batch.Records.Select(r => Encoding.UTF8.GetString(r)));
            journal.Commit(batch);
        }
    }
}

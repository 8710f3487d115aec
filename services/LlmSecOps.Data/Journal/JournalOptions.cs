namespace LlmSecOps.Data.Journal;

/// <summary>When the journal forces appended bytes to stable storage (<c>fsync</c>).</summary>
public enum JournalFsyncPolicy
{
    /// <summary>
    /// Every append call returns only after its bytes are on disk. Survives power loss; costs one fsync per
    /// append call (a batch of records is one call), i.e. milliseconds on most disks.
    /// </summary>
    EveryAppend,

    /// <summary>
    /// Appends are written to the operating system at once (a process crash loses nothing) and forced to disk
    /// every <see cref="JournalOptions.FsyncInterval"/>: a power loss or kernel crash can lose up to that much.
    /// </summary>
    Interval,
}

/// <summary>Settings of a <see cref="RecordJournal"/>.</summary>
public sealed class JournalOptions
{
    /// <summary>Bytes of framing per record: a 4-byte length before the payload and a 4-byte CRC-32 after it.</summary>
    public const int FrameOverhead = 8;

    /// <summary>The folder that holds the segment files, the checkpoint and the lock file. Required; created if missing.</summary>
    public string Directory { get; set; } = "";

    /// <summary>Upper bound of the bytes all segment files may hold together. Default 256 MiB.</summary>
    public long MaxTotalBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>A segment file is closed and a new one started once it would grow past this. Default 16 MiB.</summary>
    public long SegmentBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Largest accepted record payload; a longer length field read back is treated as corruption. Default 1 MiB.</summary>
    public int MaxRecordBytes { get; set; } = 1024 * 1024;

    /// <summary>When appends reach the disk. Default <see cref="JournalFsyncPolicy.EveryAppend"/> (fail safe).</summary>
    public JournalFsyncPolicy FsyncPolicy { get; set; } = JournalFsyncPolicy.EveryAppend;

    /// <summary>Period of the background fsync with <see cref="JournalFsyncPolicy.Interval"/>. Default 100 ms.</summary>
    public TimeSpan FsyncInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Every problem with these settings, each with how to fix it; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Directory))
        {
            errors.Add("Journal Directory is required: set it to a folder on a persistent volume, one per gateway replica.");
        }

        if (MaxRecordBytes < 1)
        {
            errors.Add($"Journal MaxRecordBytes must be at least 1 (was {MaxRecordBytes}).");
        }

        if (SegmentBytes < MaxRecordBytes + FrameOverhead)
        {
            errors.Add($"Journal SegmentBytes ({SegmentBytes}) must hold at least one record of MaxRecordBytes + {FrameOverhead} ({(long)MaxRecordBytes + FrameOverhead}).");
        }

        if (MaxTotalBytes < SegmentBytes)
        {
            errors.Add($"Journal MaxTotalBytes ({MaxTotalBytes}) must be at least SegmentBytes ({SegmentBytes}).");
        }

        if (FsyncPolicy == JournalFsyncPolicy.Interval && (FsyncInterval <= TimeSpan.Zero || FsyncInterval > TimeSpan.FromSeconds(10)))
        {
            errors.Add($"Journal FsyncInterval must be between 1 ms and 10 s (was {FsyncInterval}).");
        }

        if (!Enum.IsDefined(FsyncPolicy))
        {
            errors.Add($"Journal FsyncPolicy '{FsyncPolicy}' is unknown: use EveryAppend or Interval.");
        }

        return errors;
    }
}

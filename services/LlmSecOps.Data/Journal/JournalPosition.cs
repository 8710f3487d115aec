namespace LlmSecOps.Data.Journal;

/// <summary>A place in the journal: a segment's sequence number and a byte offset inside it.</summary>
/// <param name="Segment">Sequence number of the segment file.</param>
/// <param name="Offset">Byte offset of a record frame (or the segment's end) in that file.</param>
public readonly record struct JournalPosition(long Segment, long Offset)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Segment}:{Offset}";
}

/// <summary>
/// Records read from the journal by <see cref="RecordJournal.ReadBatch"/>, not yet consumed: pass it to
/// <see cref="RecordJournal.Commit"/> once a sink has acknowledged every record.
/// </summary>
public sealed class JournalBatch
{
    internal JournalBatch(IReadOnlyList<byte[]> records, JournalPosition start, JournalPosition end)
    {
        Records = records;
        Start = start;
        End = end;
    }

    /// <summary>The record payloads, oldest first.</summary>
    public IReadOnlyList<byte[]> Records { get; }

    /// <summary>Where the first record starts (the checkpoint when it was read).</summary>
    public JournalPosition Start { get; }

    /// <summary>Just after the last record: the checkpoint once committed.</summary>
    public JournalPosition End { get; }

    /// <summary>Number of records.</summary>
    public int Count => Records.Count;
}

/// <summary>Another <see cref="RecordJournal"/> (in this or another process) holds the folder's lock.</summary>
public sealed class JournalLockedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public JournalLockedException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

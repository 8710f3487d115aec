using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using LlmSecOps.Contracts.Keys;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace LlmSecOps.Data.Journal;

/// <summary>
/// An append-only, bounded, crash-safe on-disk journal of opaque byte records, with one consumer that reads
/// them back in order and commits a durable checkpoint.
/// </summary>
/// <remarks>
/// <para>Layout: segment files <c>{sequence:D20}.seg</c> in <see cref="JournalOptions.Directory"/>; each record
/// framed as <c>[u32 length LE][payload][u32 CRC-32 LE of length + payload]</c>. A <c>checkpoint</c> file holds the
/// position of the next unconsumed record (written to a temporary file, fsynced, renamed over the old one), and
/// <c>journal.lock</c> is held with an exclusive lock (flock on Linux) for the journal's lifetime.</para>
/// <para>Opening scans every segment: at the first frame whose length is impossible or whose CRC does not match
/// (a record torn by a crash, or a damaged tail) the segment is truncated there; everything before it is kept.</para>
/// <para>Delivery is at-least-once: a record is replayed after a restart when the process died after the sink
/// acknowledged it but before <see cref="Commit"/> made the checkpoint durable. Records must therefore carry
/// their own unique id so that sinks can ignore a repeat.</para>
/// <para>Thread-safe: every operation takes one lock; it is meant for the slow path (spilling), not per request.</para>
/// </remarks>
public sealed class RecordJournal : IDisposable
{
    private const string SegmentExtension = ".seg";
    private const string CheckpointName = "checkpoint";
    private const string LockName = "journal.lock";

    private readonly Lock _sync = new();
    private readonly JournalOptions _options;
    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly FileStream _lockFile;
    private readonly List<Segment> _segments = [];
    private readonly Timer? _fsyncTimer;
    private JournalPosition _checkpoint;
    private long _totalBytes;
    private long _pending;
    private int _refusedBytes;
    private bool _dirty;
    private volatile bool _full;
    private bool _disposed;

    private RecordJournal(JournalOptions options, ILogger logger, FileStream lockFile)
    {
        _options = options;
        _logger = logger;
        _directory = Path.GetFullPath(options.Directory);
        _lockFile = lockFile;
        if (options.FsyncPolicy == JournalFsyncPolicy.Interval)
        {
            _fsyncTimer = new Timer(_ => BackgroundFsync(), null, options.FsyncInterval, options.FsyncInterval);
        }
    }

    /// <summary>The folder this journal lives in.</summary>
    public string Directory => _directory;

    /// <summary>Bytes held by all segment files (consumed records count until their segment is deleted).</summary>
    public long UsedBytes
    {
        get
        {
            lock (_sync)
            {
                return _totalBytes;
            }
        }
    }

    /// <summary>The configured bound, <see cref="JournalOptions.MaxTotalBytes"/>.</summary>
    public long MaxBytes => _options.MaxTotalBytes;

    /// <summary>The largest record payload accepted, <see cref="JournalOptions.MaxRecordBytes"/>.</summary>
    public int MaxRecordBytes => _options.MaxRecordBytes;

    /// <summary>Records appended and not yet committed as consumed.</summary>
    public long PendingRecords => Interlocked.Read(ref _pending);

    /// <summary>
    /// True after an append was refused for lack of room, until <see cref="Commit"/> has freed enough room for
    /// that record; also true when not even an empty record would fit.
    /// </summary>
    /// <remarks>Lock-free (read on the request path through the writer's <c>CanAccept</c>, while appends may be fsyncing).</remarks>
    public bool IsFull => _full;

    /// <summary>The position of the next unconsumed record (the durable checkpoint).</summary>
    public JournalPosition Checkpoint
    {
        get
        {
            lock (_sync)
            {
                return _checkpoint;
            }
        }
    }

    /// <summary>Number of segment files.</summary>
    public int SegmentCount
    {
        get
        {
            lock (_sync)
            {
                return _segments.Count;
            }
        }
    }

    /// <summary>
    /// Opens (or creates) the journal in <see cref="JournalOptions.Directory"/>, taking its exclusive lock, repairing
    /// a torn tail and loading the checkpoint.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (every problem listed).</exception>
    /// <exception cref="JournalLockedException">Another journal instance or process holds the folder.</exception>
    public static RecordJournal Open(JournalOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));
        }

        var directory = Path.GetFullPath(options.Directory);
        System.IO.Directory.CreateDirectory(directory);
        FileStream lockFile;
        try
        {
            // FileShare.None is an exclusive flock(2) on Unix and a share-mode lock on Windows: a second opener,
            // in this process or another, fails at once instead of interleaving writes into the same segments.
            lockFile = new FileStream(Path.Combine(directory, LockName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new JournalLockedException(
                $"The record journal at {directory} is in use by another process or instance. Give every gateway replica its own journal folder.", ex);
        }

        var journal = new RecordJournal(options, logger ?? NullLogger.Instance, lockFile);
        try
        {
            journal.Load();
        }
        catch
        {
            journal.Dispose();
            throw;
        }

        return journal;
    }

    /// <summary>True when a record of <paramref name="payloadBytes"/> bytes would fit now.</summary>
    public bool CanFit(int payloadBytes)
    {
        lock (_sync)
        {
            return FitsLocked(payloadBytes);
        }
    }

    /// <summary>Appends one record; false (and nothing written) when it does not fit.</summary>
    /// <exception cref="ArgumentException">The record is longer than <see cref="JournalOptions.MaxRecordBytes"/>.</exception>
    public bool TryAppend(ReadOnlySpan<byte> record)
    {
        lock (_sync)
        {
            ThrowIfDisposed();
            if (!AppendLocked(record))
            {
                return false;
            }

            SyncAfterAppendLocked();
            return true;
        }
    }

    /// <summary>
    /// Appends records in order from <paramref name="start"/> until one does not fit, with one fsync for all
    /// (under <see cref="JournalFsyncPolicy.EveryAppend"/>). Returns how many were appended.
    /// </summary>
    public int AppendMany(IReadOnlyList<byte[]> records, int start = 0)
    {
        ArgumentNullException.ThrowIfNull(records);
        lock (_sync)
        {
            ThrowIfDisposed();
            var appended = 0;
            for (var i = start; i < records.Count; i++)
            {
                if (!AppendLocked(records[i]))
                {
                    break;
                }

                appended++;
            }

            if (appended > 0)
            {
                SyncAfterAppendLocked();
            }

            return appended;
        }
    }

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> records (and about <paramref name="maxBytes"/>) from the checkpoint
    /// on, without consuming them. Calling it again before <see cref="Commit"/> returns the same records.
    /// </summary>
    public JournalBatch ReadBatch(int maxRecords, long maxBytes = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecords, 1);
        lock (_sync)
        {
            ThrowIfDisposed();
            var start = NormalizeLocked(_checkpoint);
            var position = start;
            var records = new List<byte[]>();
            long bytes = 0;
            Span<byte> header = stackalloc byte[4];
            while (records.Count < maxRecords && bytes < maxBytes)
            {
                position = NormalizeLocked(position);
                var segment = FindLocked(position.Segment);
                if (segment is null || position.Offset >= segment.Length)
                {
                    break;
                }

                var handle = segment.Handle;
                RandomAccess.Read(handle, header, position.Offset);
                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                var frame = new byte[length + JournalOptions.FrameOverhead];
                RandomAccess.Read(handle, frame, position.Offset);
                if (!FrameIsValid(frame, length))
                {
                    // Everything up to Length was verified at open or written by us: this is the disk changing under us.
                    throw new InvalidDataException($"Record journal segment {segment.Path} changed on disk at offset {position.Offset}.");
                }

                records.Add(frame.AsSpan(4, length).ToArray());
                bytes += length;
                position = position with { Offset = position.Offset + frame.Length };
            }

            return new JournalBatch(records, start, NormalizeLocked(position));
        }
    }

    /// <summary>
    /// Marks <paramref name="batch"/> consumed: writes the checkpoint durably, then deletes segments that hold only
    /// consumed records. Call only after the sink acknowledged every record of the batch.
    /// </summary>
    /// <exception cref="InvalidOperationException">The batch does not start at the current checkpoint.</exception>
    public void Commit(JournalBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_sync)
        {
            ThrowIfDisposed();
            if (NormalizeLocked(_checkpoint) != batch.Start)
            {
                throw new InvalidOperationException($"The batch starts at {batch.Start}, but the checkpoint is at {_checkpoint}: commit batches in the order they were read.");
            }

            if (batch.Count == 0)
            {
                return;
            }

            _checkpoint = batch.End;
            WriteCheckpointLocked(_checkpoint);
            Interlocked.Add(ref _pending, -batch.Count);

            // Segments wholly before the checkpoint are consumed; the active one is kept (it is being appended to).
            while (_segments.Count > 1 && _segments[0].Sequence < _checkpoint.Segment)
            {
                var segment = _segments[0];
                _segments.RemoveAt(0);
                _totalBytes -= segment.Length;
                segment.Handle.Dispose();
                File.Delete(segment.Path);
            }

            // Everything consumed: start a fresh active segment so its bytes can be reclaimed too (otherwise a
            // journal whose consumed records all sit in the active segment could stay full for ever).
            var last = _segments[^1];
            if (Interlocked.Read(ref _pending) == 0 && last.Length > 0 && _checkpoint.Segment == last.Sequence && _checkpoint.Offset >= last.Length)
            {
                RandomAccess.FlushToDisk(last.Handle);
                var fresh = CreateSegment(last.Sequence + 1);
                _segments.Add(fresh);
                _checkpoint = new JournalPosition(fresh.Sequence, 0);
                WriteCheckpointLocked(_checkpoint);
                _segments.Remove(last);
                _totalBytes -= last.Length;
                last.Handle.Dispose();
                File.Delete(last.Path);
            }

            if (_refusedBytes > 0 && FitsLocked(_refusedBytes - 1))
            {
                _refusedBytes = 0;
            }

            _full = _refusedBytes > 0 || !FitsLocked(0);
        }
    }

    /// <summary>Forces appended bytes to disk now (whatever the policy).</summary>
    public void Flush()
    {
        lock (_sync)
        {
            if (!_disposed && _segments.Count > 0 && _dirty)
            {
                RandomAccess.FlushToDisk(_segments[^1].Handle);
                _dirty = false;
            }
        }
    }

    /// <summary>Flushes, closes the files and releases the folder's lock.</summary>
    public void Dispose()
    {
        _fsyncTimer?.Dispose();
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                if (_dirty && _segments.Count > 0)
                {
                    RandomAccess.FlushToDisk(_segments[^1].Handle);
                }
            }
            finally
            {
                _disposed = true;
                foreach (var segment in _segments)
                {
                    segment.Handle.Dispose();
                }

                _segments.Clear();
                _lockFile.Dispose();
            }
        }
    }

    private void Load()
    {
        var paths = System.IO.Directory.GetFiles(_directory, "*" + SegmentExtension);
        var sequences = new List<(long Sequence, string Path)>();
        foreach (var path in paths)
        {
            if (long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                sequences.Add((sequence, path));
            }
        }

        sequences.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        var checkpoint = ReadCheckpoint();
        long pending = 0;
        foreach (var (sequence, path) in sequences)
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            var (validLength, records, recordsFromCheckpoint) = Scan(handle, sequence == checkpoint.Segment ? checkpoint.Offset : -1);
            var fileLength = RandomAccess.GetLength(handle);
            if (validLength < fileLength)
            {
                RandomAccess.SetLength(handle, validLength);
                RandomAccess.FlushToDisk(handle);
                Log.Truncated(_logger, path, validLength, fileLength - validLength);
            }

            if (sequence < checkpoint.Segment)
            {
                // Consumed, but the crash came between writing the checkpoint and deleting the file.
                handle.Dispose();
                File.Delete(path);
                continue;
            }

            if (sequence > checkpoint.Segment)
            {
                pending += records;
            }
            else if (sequence == checkpoint.Segment)
            {
                pending += recordsFromCheckpoint;
            }

            _segments.Add(new Segment(sequence, path, handle) { Length = validLength });
            _totalBytes += validLength;
        }

        if (_segments.Count == 0)
        {
            _segments.Add(CreateSegment(1));
        }

        // A checkpoint before the oldest segment (already deleted) starts at it (every record counted as pending
        // above); one past a truncated end is clamped.
        if (checkpoint.Segment < _segments[0].Sequence)
        {
            checkpoint = new JournalPosition(_segments[0].Sequence, 0);
        }

        var current = FindLocked(checkpoint.Segment);
        if (current is not null && checkpoint.Offset > current.Length)
        {
            checkpoint = checkpoint with { Offset = current.Length };
        }

        _checkpoint = checkpoint;
        _pending = pending;
        _full = !FitsLocked(0);
        Log.Opened(_logger, _directory, _segments.Count, _totalBytes, pending);
    }

    /// <summary>Walks the frames of one segment: the length of its valid prefix, its record count, and the count from <paramref name="fromOffset"/> on.</summary>
    /// <remarks>Reads the file sequentially in large chunks: a scan of a full journal at start-up is I/O- and CRC-bound.</remarks>
    private (long ValidLength, long Records, long RecordsFromOffset) Scan(SafeFileHandle handle, long fromOffset)
    {
        var fileLength = RandomAccess.GetLength(handle);
        long offset = 0;
        long records = 0;
        long fromCheckpoint = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1024 * 1024, _options.MaxRecordBytes + JournalOptions.FrameOverhead));
        long bufferStart = 0;
        var bufferCount = 0;
        try
        {
            while (offset + JournalOptions.FrameOverhead <= fileLength)
            {
                if (!Ensure(offset, 4))
                {
                    break;
                }

                var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan((int)(offset - bufferStart)));
                if (length < 0 || length > _options.MaxRecordBytes || offset + length + JournalOptions.FrameOverhead > fileLength)
                {
                    break;
                }

                var frameLength = length + JournalOptions.FrameOverhead;
                if (!Ensure(offset, frameLength) || !FrameIsValid(buffer.AsSpan((int)(offset - bufferStart), frameLength), length))
                {
                    break;
                }

                records++;
                if (fromOffset >= 0 && offset >= fromOffset)
                {
                    fromCheckpoint++;
                }

                offset += frameLength;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (offset, records, fromCheckpoint);

        // Makes bytes [position, position + count) of the file available in the buffer; false at end of file.
        bool Ensure(long position, int count)
        {
            if (position >= bufferStart && position + count <= bufferStart + bufferCount)
            {
                return true;
            }

            bufferStart = position;
            bufferCount = 0;
            while (bufferCount < buffer.Length)
            {
                var read = RandomAccess.Read(handle, buffer.AsSpan(bufferCount), position + bufferCount);
                if (read == 0)
                {
                    break;
                }

                bufferCount += read;
            }

            return bufferCount >= count;
        }
    }

    private static bool FrameIsValid(ReadOnlySpan<byte> frame, int length)
    {
        if (length < 0 || frame.Length != length + JournalOptions.FrameOverhead)
        {
            return false;
        }

        var expected = BinaryPrimitives.ReadUInt32LittleEndian(frame[(4 + length)..]);
        return Crc32.Compute(frame[..(4 + length)]) == expected;
    }

    private bool AppendLocked(ReadOnlySpan<byte> record)
    {
        if (record.Length > _options.MaxRecordBytes)
        {
            throw new ArgumentException($"A journal record of {record.Length} bytes exceeds MaxRecordBytes ({_options.MaxRecordBytes}).", nameof(record));
        }

        if (!FitsLocked(record.Length))
        {
            if (_refusedBytes == 0)
            {
                Log.Full(_logger, _totalBytes, _options.MaxTotalBytes, record.Length);
            }

            _refusedBytes = Math.Max(_refusedBytes, record.Length + 1);
            _full = true;
            return false;
        }

        var frameLength = record.Length + JournalOptions.FrameOverhead;
        var active = _segments[^1];
        if (active.Length > 0 && active.Length + frameLength > _options.SegmentBytes)
        {
            // The full segment is made durable before writing elsewhere, whatever the policy.
            RandomAccess.FlushToDisk(active.Handle);
            active = CreateSegment(active.Sequence + 1);
            _segments.Add(active);
        }

        var frame = ArrayPool<byte>.Shared.Rent(frameLength);
        try
        {
            var span = frame.AsSpan(0, frameLength);
            BinaryPrimitives.WriteInt32LittleEndian(span, record.Length);
            record.CopyTo(span[4..]);
            BinaryPrimitives.WriteUInt32LittleEndian(span[(4 + record.Length)..], Crc32.Compute(span[..(4 + record.Length)]));

            // A positional write(2), no user-space buffer: once it returns a process crash cannot lose it.
            RandomAccess.Write(active.Handle, span, active.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }

        active.Length += frameLength;
        _totalBytes += frameLength;
        _full = _refusedBytes > 0 || !FitsLocked(0);
        _dirty = true;
        Interlocked.Increment(ref _pending);
        return true;
    }

    private void SyncAfterAppendLocked()
    {
        if (_options.FsyncPolicy == JournalFsyncPolicy.EveryAppend)
        {
            RandomAccess.FlushToDisk(_segments[^1].Handle);
            _dirty = false;
        }
    }

    private bool FitsLocked(int payloadBytes) => _totalBytes + payloadBytes + JournalOptions.FrameOverhead <= _options.MaxTotalBytes;

    /// <summary>A position at the end of a segment that is not the last becomes the start of the next one.</summary>
    private JournalPosition NormalizeLocked(JournalPosition position)
    {
        while (true)
        {
            var index = _segments.FindIndex(s => s.Sequence >= position.Segment);
            if (index < 0)
            {
                return position;
            }

            var segment = _segments[index];
            if (segment.Sequence > position.Segment)
            {
                return new JournalPosition(segment.Sequence, 0);
            }

            if (position.Offset < segment.Length || index == _segments.Count - 1)
            {
                return position;
            }

            position = new JournalPosition(_segments[index + 1].Sequence, 0);
        }
    }

    private Segment? FindLocked(long sequence)
    {
        foreach (var segment in _segments)
        {
            if (segment.Sequence == sequence)
            {
                return segment;
            }
        }

        return null;
    }

    private Segment CreateSegment(long sequence)
    {
        var path = Path.Combine(_directory, sequence.ToString("D20", CultureInfo.InvariantCulture) + SegmentExtension);
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        return new Segment(sequence, path, handle);
    }

    private JournalPosition ReadCheckpoint()
    {
        var path = Path.Combine(_directory, CheckpointName);
        if (!File.Exists(path))
        {
            return new JournalPosition(0, 0);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 20 || Crc32.Compute(bytes.AsSpan(0, 16)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16)))
        {
            Log.CheckpointUnreadable(_logger, path);
            return new JournalPosition(0, 0);
        }

        return new JournalPosition(BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)));
    }

    private void WriteCheckpointLocked(JournalPosition position)
    {
        Span<byte> bytes = stackalloc byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, position.Segment);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[8..], position.Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[16..], Crc32.Compute(bytes[..16]));
        var path = Path.Combine(_directory, CheckpointName);
        var temporary = path + ".tmp";
        using (var handle = File.OpenHandle(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, bytes, 0);
            RandomAccess.FlushToDisk(handle);
        }

        // rename(2) is atomic: a crash leaves either the old or the new checkpoint, never half of one.
        File.Move(temporary, path, overwrite: true);
    }

    private void BackgroundFsync()
    {
        try
        {
            Flush();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            Log.FsyncFailed(_logger, ex);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private sealed class Segment(long sequence, string path, SafeFileHandle handle)
    {
        public long Sequence { get; } = sequence;

        public string Path { get; } = path;

        public SafeFileHandle Handle { get; } = handle;

        public long Length { get; set; }
    }
}

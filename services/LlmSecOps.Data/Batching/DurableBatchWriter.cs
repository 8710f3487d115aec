using System.Diagnostics.Metrics;
using System.Threading.Channels;
using LlmSecOps.Data.Journal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlmSecOps.Data.Batching;

/// <summary>
/// Writes records to an <see cref="IBatchSink{T}"/> in batches, off the caller's path, and never loses one while
/// the sink is down: failed batches spill to a <see cref="RecordJournal"/>, which a recovery loop drains into the
/// sink (in order, committing the journal only after the sink acknowledged) before direct writes resume.
/// </summary>
/// <remarks>
/// <para>The gateway checks <see cref="CanAccept"/> before serving a request (false -> 503: the record could not be
/// kept) and calls <see cref="TryEnqueue"/> when the response completes.</para>
/// <para>Order: while the writer is spilling, every new batch goes to the journal behind the older ones, so the sink
/// sees records in enqueue order except that a batch whose direct write failed after partly reaching the store is
/// repeated (at-least-once; sinks de-duplicate on the record's id).</para>
/// <para>The writer does not own the journal: dispose the writer first (it flushes), then the journal.</para>
/// </remarks>
public sealed class DurableBatchWriter<T> : IAsyncDisposable
{
    /// <summary>Name of the meter every writer reports on.</summary>
    public const string MeterName = "LlmSecOps.Data.RecordPipeline";

    private readonly IBatchSink<T> _sink;
    private readonly IRecordSerializer<T> _serializer;
    private readonly RecordJournal _journal;
    private readonly DurableBatchWriterOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<T> _queue;
    private readonly Lock _mode = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _spillSignal = new(0);
    private readonly SemaphoreSlim _roomSignal = new(0);
    private readonly Meter? _ownedMeter;
    private readonly KeyValuePair<string, object?> _tag;
    private readonly Counter<long> _enqueuedCounter;
    private readonly Counter<long> _rejectedCounter;
    private readonly Counter<long> _writtenCounter;
    private readonly Counter<long> _spilledCounter;
    private readonly Counter<long> _drainedCounter;
    private readonly Counter<long> _lostCounter;
    private readonly Counter<long> _sinkFailureCounter;
    private readonly Task _writeLoop;
    private readonly Task _recoveryLoop;
    private volatile bool _spilling;
    private volatile bool _holding;
    private volatile bool _draining;
    private long _queued;
    private long _enqueued;
    private long _rejected;
    private long _written;
    private long _spilled;
    private long _drained;
    private long _lost;
    private long _sinkFailures;
    private int _disposed;

    /// <summary>Starts the writer's background loops.</summary>
    /// <exception cref="ArgumentException">The options are invalid (every problem listed).</exception>
    public DurableBatchWriter(
        IBatchSink<T> sink,
        IRecordSerializer<T> serializer,
        RecordJournal journal,
        DurableBatchWriterOptions options,
        ILogger? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(serializer);
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, errors), nameof(options));
        }

        _sink = sink;
        _serializer = serializer;
        _journal = journal;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _queue = Channel.CreateBounded<T>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownedMeter = new Meter(MeterName);
        }
        else
        {
            meter = meterFactory.Create(MeterName);
        }

        _tag = new("pipeline", options.Name);
        _enqueuedCounter = meter.CreateCounter<long>("llmsecops.records.enqueued", "{record}", "Records accepted by TryEnqueue.");
        _rejectedCounter = meter.CreateCounter<long>("llmsecops.records.rejected", "{record}", "Records TryEnqueue refused (queue full or writer stopped).");
        _writtenCounter = meter.CreateCounter<long>("llmsecops.records.written", "{record}", "Records written straight to the sink.");
        _spilledCounter = meter.CreateCounter<long>("llmsecops.records.spilled", "{record}", "Records appended to the journal because the sink was down.");
        _drainedCounter = meter.CreateCounter<long>("llmsecops.records.drained", "{record}", "Journaled records delivered to the sink.");
        _lostCounter = meter.CreateCounter<long>("llmsecops.records.lost", "{record}", "Records that could be neither delivered nor journaled (shutdown timed out).");
        _sinkFailureCounter = meter.CreateCounter<long>("llmsecops.records.sink_failures", "{failure}", "Failed sink calls (direct writes and recovery probes).");
        meter.CreateObservableGauge("llmsecops.records.queue_length", () => new Measurement<long>(QueueLength, _tag), "{record}", "Records waiting in memory.");
        meter.CreateObservableGauge("llmsecops.records.journal_bytes", () => new Measurement<long>(_journal.UsedBytes, _tag), "By", "Bytes held by the journal's segment files.");
        meter.CreateObservableGauge("llmsecops.records.spilling", () => new Measurement<int>(_spilling ? 1 : 0, _tag), "{state}", "1 while the sink is down and records go to the journal.");

        if (journal.PendingRecords > 0)
        {
            // Records left by an earlier run go to the sink before anything new.
            _spilling = true;
            Log.StartingWithBacklog(_logger, options.Name, journal.PendingRecords);
        }

        _writeLoop = Task.Run(WriteLoopAsync);
        _recoveryLoop = Task.Run(RecoveryLoopAsync);
        if (_spilling)
        {
            _spillSignal.Release();
        }
    }

    /// <summary>
    /// False when a new request's record could not be kept: the sink is down and the journal is full (or the
    /// in-memory queue is full). The data plane answers 503 then rather than serve unrecorded traffic.
    /// </summary>
    public bool CanAccept => !IsFull && Volatile.Read(ref _queued) < _options.QueueCapacity && Volatile.Read(ref _disposed) == 0;

    /// <summary>True while the sink is down and the journal has no room for more records.</summary>
    public bool IsFull => _spilling && (_holding || _journal.IsFull);

    /// <summary>True while the sink is considered down and records go to the journal.</summary>
    public bool IsSpilling => _spilling;

    /// <summary>Records waiting in memory (queued or in the batch being written).</summary>
    public long QueueLength => Volatile.Read(ref _queued);

    /// <summary>Records accepted by <see cref="TryEnqueue"/>.</summary>
    public long EnqueuedCount => Interlocked.Read(ref _enqueued);

    /// <summary>Records <see cref="TryEnqueue"/> refused.</summary>
    public long RejectedCount => Interlocked.Read(ref _rejected);

    /// <summary>Records written straight to the sink.</summary>
    public long WrittenCount => Interlocked.Read(ref _written);

    /// <summary>Records appended to the journal.</summary>
    public long SpilledCount => Interlocked.Read(ref _spilled);

    /// <summary>Journaled records delivered to the sink (this run; includes records left by an earlier run).</summary>
    public long DrainedCount => Interlocked.Read(ref _drained);

    /// <summary>Records neither delivered nor journaled (only when shutdown timed out with the sink down and the journal full).</summary>
    public long LostCount => Interlocked.Read(ref _lost);

    /// <summary>Failed sink calls.</summary>
    public long SinkFailureCount => Interlocked.Read(ref _sinkFailures);

    /// <summary>
    /// Queues a record without blocking or doing I/O. False when the queue is full or the writer is stopping (the
    /// record is not kept: check <see cref="CanAccept"/> before serving the request it describes).
    /// </summary>
    public bool TryEnqueue(T record)
    {
        if (Interlocked.Increment(ref _queued) <= _options.QueueCapacity && _queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _enqueued);
            _enqueuedCounter.Add(1, _tag);
            return true;
        }

        Interlocked.Decrement(ref _queued);
        Interlocked.Increment(ref _rejected);
        _rejectedCounter.Add(1, _tag);
        return false;
    }

    /// <summary>
    /// Stops accepting records and flushes the queue (to the sink, or to the journal when the sink is down) within
    /// <see cref="DurableBatchWriterOptions.ShutdownTimeout"/>; a journal backlog that the sink is accepting is
    /// drained within the same time; the journal keeps what is left for the next start.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        using (var timeout = new CancellationTokenSource(_options.ShutdownTimeout))
        using (timeout.Token.Register(() => _stopping.Cancel()))
        {
            await _writeLoop.ConfigureAwait(false);

            // A backlog the sink is accepting right now is finished (within the timeout) rather than left to a next
            // start, which may never come on this volume; with the sink down the journal keeps it.
            while (_spilling && _draining && !timeout.IsCancellationRequested)
            {
                await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
            }
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _recoveryLoop.ConfigureAwait(false);
        _journal.Flush();
        if (_options.OwnsJournal)
        {
            _journal.Dispose();
        }

        _ownedMeter?.Dispose();
        _stopping.Dispose();
        _spillSignal.Dispose();
        _roomSignal.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<T>(_options.MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            await FillBatchAsync(reader, batch).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                continue;
            }

            await DeliverAsync(batch).ConfigureAwait(false);
            Interlocked.Add(ref _queued, -batch.Count);
        }
    }

    private async Task FillBatchAsync(ChannelReader<T> reader, List<T> batch)
    {
        var deadline = DateTime.UtcNow + _options.MaxBatchDelay;
        while (true)
        {
            while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            var remaining = deadline - DateTime.UtcNow;
            if (batch.Count >= _options.MaxBatchSize || remaining <= TimeSpan.Zero || _stopping.IsCancellationRequested)
            {
                return;
            }

            using var wait = new CancellationTokenSource(remaining);
            try
            {
                if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task DeliverAsync(List<T> batch)
    {
        if (!_spilling)
        {
            try
            {
                await WriteToSinkAsync(batch, _stopping.Token).ConfigureAwait(false);
                Interlocked.Add(ref _written, batch.Count);
                _writtenCounter.Add(batch.Count, _tag);
                return;
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref _sinkFailures);
                _sinkFailureCounter.Add(1, _tag);
                Log.SinkFailed(_logger, _options.Name, batch.Count, ex);
            }
        }

        await SpillAsync(batch).ConfigureAwait(false);
    }

    private async Task SpillAsync(List<T> batch)
    {
        var records = new List<byte[]>(batch.Count);
        foreach (var item in batch)
        {
            string? problem;
            try
            {
                var bytes = _serializer.Serialize(item);
                problem = bytes.Length <= _journal.MaxRecordBytes ? null : $"a serialised record of {bytes.Length} bytes exceeds the journal's MaxRecordBytes";
                if (problem is null)
                {
                    records.Add(bytes);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                problem = "the serializer failed: " + ex.GetType().Name;
            }

            if (problem is not null)
            {
                // One record that cannot be journaled (a bug) must not stop the pipeline for every other record.
                Interlocked.Increment(ref _lost);
                _lostCounter.Add(1, _tag);
                Log.Lost(_logger, _options.Name, 1, problem);
            }
        }

        var done = 0;
        var warned = false;
        while (done < records.Count)
        {
            lock (_mode)
            {
                // Checking the mode and appending under one lock: the recovery loop cannot declare the journal
                // drained (and resume direct writes) between the two, which would strand these records.
                _spilling = true;
                int appended;
                try
                {
                    appended = _journal.AppendMany(records, done);
                }
                catch (IOException ex)
                {
                    // A disk error: keep the records in memory and retry like a full journal (CanAccept turns false).
                    Log.JournalWriteFailed(_logger, _options.Name, ex);
                    appended = 0;
                }

                done += appended;
                Interlocked.Add(ref _spilled, appended);
                _spilledCounter.Add(appended, _tag);
                _holding = done < records.Count;
            }

            _spillSignal.Release();
            if (done == records.Count)
            {
                break;
            }

            if (!warned)
            {
                Log.JournalFull(_logger, _options.Name, records.Count - done);
                warned = true;
            }

            if (_stopping.IsCancellationRequested)
            {
                var lost = records.Count - done;
                Interlocked.Add(ref _lost, lost);
                _lostCounter.Add(lost, _tag);
                Log.Lost(_logger, _options.Name, lost, "shutdown timed out while the sink was down and the journal full");
                _holding = false;
                return;
            }

            // Wait for the recovery loop to free room (or poll: room also appears when segments are deleted).
            try
            {
                await _roomSignal.WaitAsync(TimeSpan.FromMilliseconds(200), _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Loop once more: a last append attempt, then the loss is counted above.
            }
        }

        _holding = false;
    }

    private async Task RecoveryLoopAsync()
    {
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await _spillSignal.WaitAsync(token).ConfigureAwait(false);
                var delay = _options.RecoveryMinDelay;
                while (_spilling && !token.IsCancellationRequested)
                {
                    bool delivered;
                    try
                    {
                        delivered = await DrainOneBatchAsync(token).ConfigureAwait(false);
                    }
                    catch (Exception) when (token.IsCancellationRequested)
                    {
                        return; // stopping: the journal keeps the batch for the next start
                    }
                    catch (Exception ex)
                    {
                        _draining = false;

                        // The sink is still down (or a journaled record could not be read back): the batch stays
                        // in the journal and is tried again after a growing, jittered delay.
                        Interlocked.Increment(ref _sinkFailures);
                        _sinkFailureCounter.Add(1, _tag);
                        var jittered = delay * (0.8 + (0.4 * Random.Shared.NextDouble()));
                        Log.ProbeFailed(_logger, _options.Name, (long)jittered.TotalMilliseconds, ex);
                        await Task.Delay(jittered, token).ConfigureAwait(false);
                        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.RecoveryMaxDelay.Ticks));
                        continue;
                    }

                    if (delivered)
                    {
                        delay = _options.RecoveryMinDelay;
                    }
                    else if (_spilling)
                    {
                        // Nothing journaled but the writer holds records it could not append: let it retry.
                        _roomSignal.Release();
                        await Task.Delay(_options.RecoveryMinDelay, token).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Stopping: what is still journaled is drained on the next start.
        }
    }

    /// <summary>Delivers the oldest journaled batch; false when there was none (and direct writes resumed if nothing is held).</summary>
    private async Task<bool> DrainOneBatchAsync(CancellationToken token)
    {
        JournalBatch journaled;
        lock (_mode)
        {
            journaled = _journal.ReadBatch(_options.MaxBatchSize);
            if (journaled.Count == 0)
            {
                if (!_holding)
                {
                    _spilling = false;
                    Log.Resumed(_logger, _options.Name);
                }

                return false;
            }
        }

        var items = new List<T>(journaled.Count);
        foreach (var record in journaled.Records)
        {
            items.Add(_serializer.Deserialize(record));
        }

        await WriteToSinkAsync(items, token).ConfigureAwait(false);

        // Only now, after the sink acknowledged, does the checkpoint move: a crash before this line replays the
        // batch (at-least-once), never skips it.
        lock (_mode)
        {
            _journal.Commit(journaled);
        }

        _draining = true;
        Interlocked.Add(ref _drained, journaled.Count);
        _drainedCounter.Add(journaled.Count, _tag);
        _roomSignal.Release();
        return true;
    }

    private async Task WriteToSinkAsync(IReadOnlyList<T> batch, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_options.SinkTimeout);
        await _sink.WriteAsync(batch, timeout.Token).ConfigureAwait(false);
    }
}

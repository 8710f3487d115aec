namespace LlmSecOps.Data.Batching;

/// <summary>Settings of a <see cref="DurableBatchWriter{T}"/>.</summary>
public sealed class DurableBatchWriterOptions
{
    /// <summary>Names the pipeline in logs and in the <c>pipeline</c> metric tag (e.g. <c>records</c>, <c>events</c>). Default <c>records</c>.</summary>
    public string Name { get; set; } = "records";

    /// <summary>Records that may wait in memory; <see cref="DurableBatchWriter{T}.TryEnqueue"/> refuses beyond it. Default 10,000.</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Most records per sink call (direct writes and journal drains). Default 500.</summary>
    public int MaxBatchSize { get; set; } = 500;

    /// <summary>Longest a record waits for its batch to fill before the batch is written anyway. Default 200 ms.</summary>
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>A sink call taking longer is cancelled and counted as a failure. Default 10 s.</summary>
    public TimeSpan SinkTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait before probing a failed sink again; doubles per failure (with jitter). Default 250 ms.</summary>
    public TimeSpan RecoveryMinDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between probes of a failed sink. Default 10 s.</summary>
    public TimeSpan RecoveryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="DurableBatchWriter{T}.DisposeAsync"/> may take to flush the queue. Default 30 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether <see cref="DurableBatchWriter{T}.DisposeAsync"/> also disposes the journal it was given (closing its files
    /// and releasing its directory lock, so the same directory can be opened again at once). Default false: the caller
    /// that opened the journal closes it.
    /// </summary>
    public bool OwnsJournal { get; set; }

    /// <summary>Every problem with these settings, each with how to fix it; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
        {
            errors.Add("Batch writer Name is required (it tags logs and metrics).");
        }

        if (QueueCapacity < 1)
        {
            errors.Add($"Batch writer QueueCapacity must be at least 1 (was {QueueCapacity}).");
        }

        if (MaxBatchSize < 1)
        {
            errors.Add($"Batch writer MaxBatchSize must be at least 1 (was {MaxBatchSize}).");
        }

        if (MaxBatchDelay < TimeSpan.Zero)
        {
            errors.Add($"Batch writer MaxBatchDelay must not be negative (was {MaxBatchDelay}).");
        }

        if (SinkTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Batch writer SinkTimeout must be positive (was {SinkTimeout}).");
        }

        if (RecoveryMinDelay <= TimeSpan.Zero || RecoveryMaxDelay < RecoveryMinDelay)
        {
            errors.Add($"Batch writer RecoveryMinDelay must be positive and at most RecoveryMaxDelay (were {RecoveryMinDelay} and {RecoveryMaxDelay}).");
        }

        if (ShutdownTimeout <= TimeSpan.Zero)
        {
            errors.Add($"Batch writer ShutdownTimeout must be positive (was {ShutdownTimeout}).");
        }

        return errors;
    }
}

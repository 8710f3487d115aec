namespace LlmSecOps.Data.Batching;

/// <summary>
/// Where a <see cref="DurableBatchWriter{T}"/> delivers records (Postgres, a Redis stream...). A call that returns
/// means every record of the batch is stored; a call that throws means the writer keeps them (in its journal)
/// and delivers them again later.
/// </summary>
/// <remarks>
/// Delivery is at-least-once: a batch that reached the store before the failure surfaced (e.g. the connection
/// dropped after COMMIT) is delivered again. Sinks must be idempotent on a unique record id (an
/// <c>ON CONFLICT DO NOTHING</c> on the primary key, a de-duplication key in Redis) or accept repeats.
/// </remarks>
public interface IBatchSink<T>
{
    /// <summary>Stores every record of <paramref name="batch"/> or throws. Honour <paramref name="cancellationToken"/>.</summary>
    Task WriteAsync(IReadOnlyList<T> batch, CancellationToken cancellationToken);
}

/// <summary>Turns a record into the bytes the journal keeps and back.</summary>
public interface IRecordSerializer<T>
{
    /// <summary>The record as bytes (e.g. UTF-8 JSON).</summary>
    byte[] Serialize(T record);

    /// <summary>The record read back from <paramref name="data"/>.</summary>
    T Deserialize(ReadOnlySpan<byte> data);
}

using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace LlmSecOps.Data.Batching;

/// <summary>UTF-8 JSON through System.Text.Json source-generated (or reflection) metadata.</summary>
public sealed class JsonRecordSerializer<T>(JsonTypeInfo<T> typeInfo) : IRecordSerializer<T>
{
    /// <inheritdoc/>
    public byte[] Serialize(T record) => JsonSerializer.SerializeToUtf8Bytes(record, typeInfo);

    /// <inheritdoc/>
    public T Deserialize(ReadOnlySpan<byte> data) =>
        JsonSerializer.Deserialize(data, typeInfo) ?? throw new JsonException("A journal record deserialised to null.");
}

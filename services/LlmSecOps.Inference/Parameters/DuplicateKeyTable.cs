using System.Buffers;

namespace LlmSecOps.Inference.Parameters;

/// <summary>
/// Detects a property name seen twice in the same JSON object, comparing UNESCAPED names (so <c>"a"</c> and
/// <c>"\u0061"</c> collide, as they do for every other parser). An open hash table keyed by (object number, name)
/// over pooled arrays: O(1) per property, no per-name allocation. The hash is <see cref="HashCode"/>, seeded
/// randomly per process, so an attacker cannot precompute colliding names to degrade it (hash flooding).
/// </summary>
internal sealed class DuplicateKeyTable : IDisposable
{
    private int[] _buckets;
    private Entry[] _entries;
    private byte[] _names;
    private int _count;
    private int _namesUsed;

    public DuplicateKeyTable()
    {
        _buckets = ArrayPool<int>.Shared.Rent(64);
        _entries = ArrayPool<Entry>.Shared.Rent(64);
        _names = ArrayPool<byte>.Shared.Rent(1024);
        Array.Clear(_buckets);
    }

    /// <summary>Adds <paramref name="name"/> to object <paramref name="objectId"/>; false when it was already there.</summary>
    public bool TryAdd(int objectId, ReadOnlySpan<byte> name)
    {
        var hc = default(HashCode);
        hc.Add(objectId);
        hc.AddBytes(name);
        var hash = hc.ToHashCode();

        var bucket = (int)((uint)hash % (uint)_buckets.Length);
        for (var i = _buckets[bucket] - 1; i >= 0; i = _entries[i].Next)
        {
            ref var e = ref _entries[i];
            if (e.Hash == hash && e.ObjectId == objectId && _names.AsSpan(e.NameOffset, e.NameLength).SequenceEqual(name))
            {
                return false;
            }
        }

        if (_count == _entries.Length || _count >= _buckets.Length)
        {
            Grow();
            bucket = (int)((uint)hash % (uint)_buckets.Length);
        }

        if (_namesUsed + name.Length > _names.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_names.Length * 2, _namesUsed + name.Length));
            _names.AsSpan(0, _namesUsed).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_names);
            _names = bigger;
        }

        name.CopyTo(_names.AsSpan(_namesUsed));
        _entries[_count] = new Entry(hash, objectId, _namesUsed, name.Length, _buckets[bucket] - 1);
        _buckets[bucket] = _count + 1;
        _namesUsed += name.Length;
        _count++;
        return true;
    }

    private void Grow()
    {
        var entries = ArrayPool<Entry>.Shared.Rent(_entries.Length * 2);
        _entries.AsSpan(0, _count).CopyTo(entries);
        ArrayPool<Entry>.Shared.Return(_entries);
        _entries = entries;

        ArrayPool<int>.Shared.Return(_buckets);
        _buckets = ArrayPool<int>.Shared.Rent(_entries.Length);
        Array.Clear(_buckets);
        for (var i = 0; i < _count; i++)
        {
            var bucket = (int)((uint)_entries[i].Hash % (uint)_buckets.Length);
            _entries[i].Next = _buckets[bucket] - 1;
            _buckets[bucket] = i + 1;
        }
    }

    public void Dispose()
    {
        ArrayPool<int>.Shared.Return(_buckets);
        ArrayPool<Entry>.Shared.Return(_entries);
        ArrayPool<byte>.Shared.Return(_names);
    }

    private struct Entry(int hash, int objectId, int nameOffset, int nameLength, int next)
    {
        public readonly int Hash = hash;
        public readonly int ObjectId = objectId;
        public readonly int NameOffset = nameOffset;
        public readonly int NameLength = nameLength;
        public int Next = next;
    }
}

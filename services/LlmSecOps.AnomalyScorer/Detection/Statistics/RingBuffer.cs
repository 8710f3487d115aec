namespace LlmSecOps.AnomalyScorer.Detection.Statistics;

/// <summary>
/// A fixed-capacity FIFO: adding to a full buffer overwrites the oldest item. Index 0 is the oldest.
/// Allocation-free after construction (the scorer keeps several per key).
/// </summary>
public sealed class RingBuffer<T>
{
    private readonly T[] _items;
    private int _start;

    /// <summary>Creates an empty buffer holding at most <paramref name="capacity"/> items.</summary>
    public RingBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _items = new T[capacity];
    }

    /// <summary>How many items the buffer holds now.</summary>
    public int Count { get; private set; }

    /// <summary>The most items it can hold.</summary>
    public int Capacity => _items.Length;

    /// <summary>Whether the next <see cref="AddLast"/> evicts the oldest item.</summary>
    public bool IsFull => Count == _items.Length;

    /// <summary>The item at <paramref name="index"/>, 0 being the oldest.</summary>
    public T this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            var i = _start + index;
            return _items[i >= _items.Length ? i - _items.Length : i];
        }
    }

    /// <summary>The oldest item.</summary>
    public T PeekFirst() => this[0];

    /// <summary>The newest item.</summary>
    public T PeekLast() => this[Count - 1];

    /// <summary>Appends <paramref name="item"/>, evicting the oldest when full.</summary>
    public void AddLast(T item)
    {
        if (Count < _items.Length)
        {
            var i = _start + Count;
            _items[i >= _items.Length ? i - _items.Length : i] = item;
            Count++;
        }
        else
        {
            _items[_start] = item;
            _start = _start + 1 == _items.Length ? 0 : _start + 1;
        }
    }

    /// <summary>Replaces the newest item.</summary>
    public void SetLast(T item)
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("The buffer is empty.");
        }

        var i = _start + Count - 1;
        _items[i >= _items.Length ? i - _items.Length : i] = item;
    }

    /// <summary>Empties the buffer.</summary>
    public void Clear()
    {
        _start = 0;
        Count = 0;
    }

    /// <summary>Copies the items, oldest first, into <paramref name="destination"/>; returns how many.</summary>
    public int CopyTo(Span<T> destination)
    {
        for (var i = 0; i < Count; i++)
        {
            destination[i] = this[i];
        }

        return Count;
    }
}

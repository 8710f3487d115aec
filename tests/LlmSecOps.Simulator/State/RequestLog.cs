namespace LlmSecOps.Simulator.State;

/// <summary>A bounded log of received requests (ring buffer: the oldest entries are dropped). Thread-safe.</summary>
public sealed class RequestLog
{
    private readonly RecordedRequest?[] _ring;
    private readonly Lock _lock = new();
    private long _total;

    internal RequestLog(int capacity) => _ring = new RecordedRequest?[capacity];

    /// <summary>How many entries it can hold; 0 = logging is off.</summary>
    public int Capacity => _ring.Length;

    /// <summary>How many requests were recorded since start (or the last <see cref="Clear"/>), dropped ones included.</summary>
    public long TotalRecorded
    {
        get
        {
            lock (_lock)
            {
                return _total;
            }
        }
    }

    internal long NextSequence()
    {
        lock (_lock)
        {
            return ++_total;
        }
    }

    internal void Add(RecordedRequest request)
    {
        if (_ring.Length == 0)
        {
            return;
        }

        lock (_lock)
        {
            _ring[(int)((request.Sequence - 1) % _ring.Length)] = request;
        }
    }

    /// <summary>The entries still held, oldest first, optionally only those after <paramref name="afterSequence"/>.</summary>
    public IReadOnlyList<RecordedRequest> Snapshot(long afterSequence = 0)
    {
        lock (_lock)
        {
            var result = new List<RecordedRequest>();
            var first = Math.Max(afterSequence + 1, _total - _ring.Length + 1);
            for (var seq = Math.Max(first, 1); seq <= _total; seq++)
            {
                var entry = _ring[(int)((seq - 1) % _ring.Length)];
                if (entry is not null && entry.Sequence == seq)
                {
                    result.Add(entry);
                }
            }

            return result;
        }
    }

    /// <summary>Forgets every entry and restarts the sequence.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            Array.Clear(_ring);
            _total = 0;
        }
    }
}

using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Detection.Statistics;

/// <summary>
/// The share of the last calls that were "novel", tested with a one-sided binomial test against the key's learned
/// novelty share (calls join the history when they leave the window, unless they were part of an alert).
/// </summary>
public sealed class NoveltyShare(int size)
{
    private readonly RingBuffer<byte> _window = new(size);
    private double _historyCalls;
    private double _historyNovel;

    /// <summary>Novel calls in the window.</summary>
    public int Novel { get; private set; }

    /// <summary>Calls in the window.</summary>
    public int Count => _window.Count;

    /// <summary>Adds a call and returns the p-value of the window's novel share (1 below five novel calls).
    /// <paramref name="accepted"/>: the alert episode is old enough to teach the baseline anyway.</summary>
    public double Observe(bool novel, bool accepted)
    {
        if (_window.IsFull)
        {
            var leaving = _window.PeekFirst();
            Novel -= leaving & 1;
            if ((leaving & 2) == 0 || accepted)
            {
                _historyCalls++;
                _historyNovel += leaving & 1;
            }
        }

        _window.AddLast((byte)(novel ? 1 : 0));
        Novel += novel ? 1 : 0;
        if (Novel < 5)
        {
            return 1.0;
        }

        var p0 = Math.Max((_historyNovel + 0.5) / (_historyCalls + 25), 0.02);
        var p = PValues.BinomialUpperTail(Novel, _window.Count, p0);
        if (p <= 1e-4)
        {
            _window.SetLast((byte)((novel ? 1 : 0) | 2));
        }

        return p;
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_window);
        w.Write(_historyCalls);
        w.Write(_historyNovel);
        w.Write(Novel);
    }

    internal void Load(BinaryReader r)
    {
        r.Read(_window);
        _historyCalls = r.ReadDouble();
        _historyNovel = r.ReadDouble();
        Novel = r.ReadInt32();
    }
}

using System.Globalization;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Detection.MaxTokens;

/// <summary>Population rates for the max-tokens detector (share of calls across all keys).</summary>
public sealed class MaxTokensPriors
{
    /// <summary>
    /// At-cap share of the 95th-percentile key (not the pooled mean: a minority of keys legitimately always ask for
    /// the cap, and a new key must be compared with what keys do, not with the average call).
    /// </summary>
    public double AtCapShare { get; set; } = 0.5;

    /// <summary>Length-finish share of the 95th-percentile key.</summary>
    public double LengthShare { get; set; } = 0.3;
}

/// <summary>
/// Max-tokens-every-call family for one key: in the last <see cref="ScoringOptions.MaxTokensWindow"/> calls, how many
/// asked for max_tokens at the cap and how many ended with finish_reason "length", each tested with a one-sided
/// binomial test against the key's own history blended with the population share. Calls leave the window into the
/// history only when they were not part of an alert (unless the new habit has lasted long enough to be accepted).
/// </summary>
public sealed class MaxTokensDetector
{
    private const long HourMs = 3_600_000;
    private readonly RingBuffer<byte> _window;
    private int _windowAtCap;
    private int _windowLength;
    private double _historyCalls;
    private double _historyAtCap;
    private double _historyLength;
    private long _episodeStartMs = -1;
    private long _lastAlertMs = -1;

    /// <summary>Creates the detector with a window of <paramref name="window"/> calls.</summary>
    public MaxTokensDetector(int window)
    {
        _window = new RingBuffer<byte>(window);
    }

    /// <summary>Calls in the window at the cap.</summary>
    public int WindowAtCap => _windowAtCap;

    /// <summary>Calls in the window.</summary>
    public int WindowCalls => _window.Count;

    /// <summary>The key's learned share of at-cap calls (NaN with no history).</summary>
    public double HistoryAtCapShare => _historyCalls == 0 ? double.NaN : _historyAtCap / _historyCalls;

    /// <summary>
    /// Scores one served call. <paramref name="atCap"/>: max_tokens at or above the cap; <paramref name="length"/>:
    /// finish_reason was "length".
    /// </summary>
    public DetectorSignal Observe(long timestampMs, bool atCap, bool length, MaxTokensPriors priors, ScoringOptions options)
    {
        var accepted = _episodeStartMs >= 0 && timestampMs - _episodeStartMs >= options.RegimeAcceptanceHours * HourMs;
        if (_window.IsFull)
        {
            var leaving = _window.PeekFirst();
            _windowAtCap -= leaving & 1;
            _windowLength -= (leaving >> 1) & 1;
            if ((leaving & 4) == 0 || accepted)
            {
                _historyCalls++;
                _historyAtCap += leaving & 1;
                _historyLength += (leaving >> 1) & 1;
            }
        }

        var flags = (byte)((atCap ? 1 : 0) | (length ? 2 : 0));
        _window.AddLast(flags);
        _windowAtCap += flags & 1;
        _windowLength += (flags >> 1) & 1;

        var n = _window.Count;
        if (n < options.MaxTokensMinCalls)
        {
            return DetectorSignal.Quiet(DetectorFamily.MaxTokens);
        }

        var a = options.PriorWeight * 4;
        var p0Cap = Math.Max((_historyAtCap + (a * priors.AtCapShare)) / (_historyCalls + a), options.MaxTokensMinBaseShare);
        var p0Len = Math.Max((_historyLength + (a * priors.LengthShare)) / (_historyCalls + a), options.MaxTokensMinBaseShare);
        var pCap = _windowAtCap / (double)n <= p0Cap ? 1.0 : PValues.BinomialUpperTail(_windowAtCap, n, p0Cap);
        var pLen = _windowLength / (double)n <= p0Len ? 1.0 : PValues.BinomialUpperTail(_windowLength, n, p0Len);
        var min = Math.Min(pCap, pLen);
        var p = Math.Min(1.0, 2 * min);
        if (p <= options.MaxTokensAlertP)
        {
            // Mark the newest call as alerted so it does not teach the baseline.
            _window.SetLast((byte)(flags | 4));
            if (_episodeStartMs < 0 || timestampMs - _lastAlertMs > HourMs)
            {
                _episodeStartMs = timestampMs;
            }

            _lastAlertMs = timestampMs;
        }

        if (p > options.ReportP)
        {
            return new DetectorSignal(DetectorFamily.MaxTokens, p, null);
        }

        var reason = min == pCap
            ? string.Create(CultureInfo.InvariantCulture,
                $"max_tokens at the cap in {_windowAtCap} of the last {n} calls vs a usual {p0Cap:P1} (binomial p={p:G2})")
            : string.Create(CultureInfo.InvariantCulture,
                $"completions cut by max_tokens in {_windowLength} of the last {n} calls vs a usual {p0Len:P1} (binomial p={p:G2})");
        return new DetectorSignal(DetectorFamily.MaxTokens, p, reason);
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_window);
        w.Write(_windowAtCap);
        w.Write(_windowLength);
        w.Write(_historyCalls);
        w.Write(_historyAtCap);
        w.Write(_historyLength);
        w.Write(_episodeStartMs);
        w.Write(_lastAlertMs);
    }

    internal void Load(BinaryReader r)
    {
        r.Read(_window);
        _windowAtCap = r.ReadInt32();
        _windowLength = r.ReadInt32();
        _historyCalls = r.ReadDouble();
        _historyAtCap = r.ReadDouble();
        _historyLength = r.ReadDouble();
        _episodeStartMs = r.ReadInt64();
        _lastAlertMs = r.ReadInt64();
    }
}

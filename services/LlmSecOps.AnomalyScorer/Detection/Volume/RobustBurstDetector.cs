using LlmSecOps.AnomalyScorer.Detection.Iid;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Detection.Volume;

/// <summary>How a burst p-value is computed.</summary>
public enum BurstModel
{
    /// <summary>
    /// Ours: robust centre and scale (median, 1.4826·MAD) of the non-alerted history, blended with a population
    /// prior while the key is new, and a Poisson tail above the conservative baseline centre + 3·scale.
    /// </summary>
    Robust,

    /// <summary>
    /// ML.NET's DetectIidSpike: kernel-density p-value over the last window of values, learning every value
    /// (alerted ones too) and saying nothing useful until the window has filled (no prior). Kept for comparison.
    /// </summary>
    MlNetKernel,
}

/// <summary>A population prior for a count series: typical centre and scale across keys.</summary>
public readonly record struct CountPrior(double Median, double Scale);

/// <summary>
/// Burst p-value for one count series of one key (requests per active minute, requests per hour ...).
/// Allocation-free per call; the median/MAD are recomputed every few additions rather than per event.
/// </summary>
public sealed class RobustBurstDetector
{
    private const int RecomputeEvery = 8;
    private readonly RingBuffer<double> _history;
    private readonly KernelDensityPValue? _kernel;
    private readonly BurstModel _model;
    private double _median;
    private double _scale;
    private double _max;
    private int _sinceRecompute = RecomputeEvery;

    /// <summary>Creates a detector over the last <paramref name="capacity"/> learned values.</summary>
    public RobustBurstDetector(int capacity, BurstModel model = BurstModel.Robust)
    {
        _history = new RingBuffer<double>(capacity);
        _model = model;
        if (model == BurstModel.MlNetKernel)
        {
            _kernel = new KernelDensityPValue(capacity);
        }
    }

    /// <summary>How many values the key's own baseline holds.</summary>
    public int Count => _history.Count;

    /// <summary>The key's robust centre (median), NaN while empty.</summary>
    public double Median
    {
        get
        {
            Refresh();
            return _history.Count == 0 ? double.NaN : _median;
        }
    }

    /// <summary>
    /// P(a value at least <paramref name="value"/> | the key's baseline), using <paramref name="prior"/> with weight
    /// <paramref name="priorWeight"/> pseudo-observations. Returns 1 quickly for values at or under the baseline.
    /// <paramref name="unit"/> rescales the learned history (value and prior are already in that unit).
    /// </summary>
    public double PValue(double value, CountPrior prior, double priorWeight, double unit = 1)
    {
        if (_model == BurstModel.MlNetKernel)
        {
            // ML.NET: no p-value worth alerting on until the window is full (blind warm-up), then kernel p-value.
            if (!_kernel!.IsFull)
            {
                return 1.0;
            }

            return IidSpikeDetector.SideAdjust(_kernel.PValue((float)value), AnomalySide.Positive);
        }

        Refresh();
        var n = _history.Count;
        var w = n / (n + priorWeight);
        var centre = (w * (n == 0 ? 0 : _median / unit)) + ((1 - w) * prior.Median);
        var scale = (w * (n == 0 ? 0 : _scale / unit)) + ((1 - w) * prior.Scale);

        // Poisson noise floor: a count's spread is at least √centre even when the MAD is 0.
        scale = Math.Max(scale, Math.Sqrt(Math.Max(centre, 1)));
        // Never call "burst" what the key has already done in its learned history (sessions cluster).
        var lambda = Math.Max(Math.Max(centre + (3 * scale), 1), n >= 8 ? _max / unit : 0);
        if (value <= lambda)
        {
            return 1.0;
        }

        return PValues.PoissonUpperTail((int)Math.Min(value, int.MaxValue), lambda);
    }

    /// <summary>Adds a value to the baseline (the caller leaves alerted values out).</summary>
    public void Learn(double value)
    {
        _history.AddLast(value);
        _kernel?.Add((float)value);
        _sinceRecompute++;
    }

    internal void Save(BinaryWriter w)
    {
        var values = ToArray();
        w.Write(values.Length);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    internal void Load(BinaryReader r)
    {
        _history.Clear();
        _kernel?.Clear();
        for (var n = StateCodec.ReadCount(r); n > 0; n--)
        {
            Learn(r.ReadDouble());
        }
    }

    /// <summary>The learned values, oldest first (for snapshots).</summary>
    public double[] ToArray()
    {
        var values = new double[_history.Count];
        _history.CopyTo(values);
        return values;
    }

    /// <summary>
    /// P(a value at least <paramref name="value"/>) on a log scale (for token counts, which are not Poisson): a normal
    /// tail of (ln(1+v) - centre) / max(scale, <paramref name="minScale"/>), with the history holding ln(1+v) values.
    /// Returns 1 for z &lt;= 2.
    /// </summary>
    public double LogNormalPValue(double value, CountPrior prior, double priorWeight, double minScale)
    {
        Refresh();
        var n = _history.Count;
        var w = n / (n + priorWeight);
        var centre = (w * (n == 0 ? 0 : _median)) + ((1 - w) * prior.Median);
        var scale = Math.Max((w * (n == 0 ? 0 : _scale)) + ((1 - w) * prior.Scale), minScale);
        var z = (Math.Log(1 + value) - centre) / scale;
        return z <= 2 ? 1.0 : SpecialFunctions.NormalUpperTail(z);
    }

    private void Refresh()
    {
        var n = _history.Count;
        if (n == 0 || _sinceRecompute == 0 || (n >= 32 && _sinceRecompute < RecomputeEvery))
        {
            return;
        }

        _sinceRecompute = 0;
        Span<double> scratch = stackalloc double[_history.Count];
        _history.CopyTo(scratch);
        _max = 0;
        foreach (var v in scratch)
        {
            _max = Math.Max(_max, v);
        }

        var (median, mad) = RobustStatistics.MedianAndMadInPlace(scratch);
        _median = median;
        _scale = RobustStatistics.MadToSigma * mad;
    }
}

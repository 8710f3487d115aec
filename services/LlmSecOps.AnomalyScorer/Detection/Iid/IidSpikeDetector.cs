namespace LlmSecOps.AnomalyScorer.Detection.Iid;

/// <summary>
/// A faithful port of ML.NET's IID spike detector (DetectIidSpike / IidSpikeDetector): the raw score is the input,
/// its p-value comes from a kernel density over the last <c>pvalueHistoryLength</c> inputs, and a point alerts when
/// the window is full and the (side-adjusted, clamped) p-value is at most 1 - confidence/100.
/// The scorer's own burst detector (<see cref="Volume.RobustBurstDetector"/>) improves on it; this one exists to be
/// checked against ML.NET's committed baselines and to be compared with in the benchmark.
/// </summary>
public sealed class IidSpikeDetector
{
    /// <summary>ML.NET's floor on p-values (SequentialAnomalyDetectionTransformBase.MinPValue).</summary>
    public const double MinPValue = 1e-8;

    private readonly KernelDensityPValue _kernel;
    private readonly AnomalySide _side;
    private readonly double _threshold;

    /// <summary>Creates a detector; <paramref name="confidence"/> is in [0, 100].</summary>
    public IidSpikeDetector(double confidence, int pvalueHistoryLength, AnomalySide side = AnomalySide.TwoSided)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(confidence, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(confidence, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(pvalueHistoryLength, 1);
        _kernel = new KernelDensityPValue(pvalueHistoryLength);
        _side = side;
        _threshold = 1 - (confidence / 100);
    }

    /// <summary>Scores the next value of the series and learns it.</summary>
    public IidScore Process(float value)
    {
        var p = SideAdjust(_kernel.PValue(value), _side);
        _kernel.Add(value);
        var alert = _kernel.IsFull && p <= _threshold;
        return new IidScore(alert, value, p, double.NaN);
    }

    internal static double SideAdjust(double p, AnomalySide side)
    {
        p = side switch
        {
            AnomalySide.Negative => 1 - p,
            AnomalySide.Positive => p,
            _ => Math.Min(p, 1 - p),
        };
        return Math.Clamp(p, MinPValue, 1 - MinPValue);
    }
}

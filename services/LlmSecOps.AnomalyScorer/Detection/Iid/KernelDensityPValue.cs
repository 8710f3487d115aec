using LlmSecOps.AnomalyScorer.Detection.Statistics;

namespace LlmSecOps.AnomalyScorer.Detection.Iid;

/// <summary>
/// The sliding-window kernel-density p-value of ML.NET's SequentialAnomalyDetectionTransformBase
/// (ComputeKernelPValue): the share of a Gaussian-kernel density over the last <c>window</c> raw scores that lies
/// above the new score, with the bandwidth √2 · √(Σ pairwise squared distances) / n maintained incrementally.
/// Raw scores are kept as <see cref="float"/> like ML.NET's buffer so results match its baselines bit for bit
/// where the arithmetic allows.
/// </summary>
public sealed class KernelDensityPValue
{
    private readonly RingBuffer<float> _buffer;
    private double _sumSquaredDist;

    /// <summary>Creates an estimator over the last <paramref name="window"/> scores.</summary>
    public KernelDensityPValue(int window)
    {
        _buffer = new RingBuffer<float>(window);
    }

    /// <summary>Whether the window is full (ML.NET raises no alert before that).</summary>
    public bool IsFull => _buffer.IsFull;

    /// <summary>How many scores the window holds.</summary>
    public int Count => _buffer.Count;

    /// <summary>
    /// The one-sided p-value P(S &gt;= <paramref name="rawScore"/>) under the kernel density of the window, before
    /// the score is added. Call <see cref="Add"/> afterwards to learn it (ML.NET always does; the robust detectors
    /// add only points that did not alert).
    /// </summary>
    public double PValue(float rawScore)
    {
        var n = _buffer.Count;
        if (n == 0)
        {
            return 0.5;
        }

        var bandwidth = Math.Sqrt(2) * (n == 1 ? 1 : Math.Sqrt(_sumSquaredDist) / n);
        bandwidth = Math.Max(bandwidth, 1e-6);
        var pValue = 0.0;
        for (var i = 0; i < n; i++)
        {
            var diff = (double)rawScore - _buffer[i];
            pValue -= SpecialFunctions.ErfAbramowitzStegun(diff / bandwidth);
        }

        return 0.5 + (pValue / (2 * n));
    }

    /// <summary>Adds <paramref name="rawScore"/> to the window, updating the pairwise distance sum.</summary>
    public void Add(float rawScore)
    {
        var n = _buffer.Count;
        for (var i = 0; i < n; i++)
        {
            var diff = (double)rawScore - _buffer[i];
            _sumSquaredDist += diff * diff;
        }

        if (_buffer.IsFull)
        {
            // The oldest score leaves the window: remove its distances to the others and to the new score.
            // (ML.NET subtracts the buffered pairs in single precision and the new pair in double; so do we.)
            for (var i = 1; i < n; i++)
            {
                double diff = _buffer[0] - _buffer[i];
                _sumSquaredDist -= diff * diff;
            }

            var last = _buffer[0] - (double)rawScore;
            _sumSquaredDist -= last * last;
        }

        _buffer.AddLast(rawScore);
    }

    /// <summary>Empties the window (snapshot restore).</summary>
    public void Clear()
    {
        _buffer.Clear();
        _sumSquaredDist = 0;
    }
}

using LlmSecOps.AnomalyScorer.Detection.Statistics;

namespace LlmSecOps.AnomalyScorer.Detection.Iid;

/// <summary>
/// A faithful port of ML.NET's IID change-point detector (DetectIidChangePoint / IidChangePointDetector): two-sided
/// kernel p-values over the last <c>changeHistoryLength</c> inputs feed a power or mixture martingale kept in log
/// space over a sliding window of the same length (Vovk et al., "Testing exchangeability on-line", and
/// arXiv:1204.3251). It alerts when the window is full and the martingale reaches
/// exp(window · betting(1 - confidence/100)), then stays quiet for one window.
/// </summary>
public sealed class IidChangePointDetector
{
    private readonly KernelDensityPValue _kernel;
    private readonly RingBuffer<double> _logUpdates;
    private readonly MartingaleType _martingale;
    private readonly double _epsilon;
    private readonly int _window;
    private double _logMartingale;
    private int _alertCooldown;

    /// <summary>Creates a detector; <paramref name="confidence"/> is in [0, 100].</summary>
    public IidChangePointDetector(
        double confidence, int changeHistoryLength, MartingaleType martingale = MartingaleType.Power, double powerEpsilon = 0.1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(confidence, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(confidence, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(changeHistoryLength, 1);
        if (!(powerEpsilon > 0 && powerEpsilon < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(powerEpsilon), "The power martingale's epsilon must be in (0, 1).");
        }

        _kernel = new KernelDensityPValue(changeHistoryLength);
        _logUpdates = new RingBuffer<double>(changeHistoryLength);
        _martingale = martingale;
        _epsilon = powerEpsilon;
        _window = changeHistoryLength;
        var p = 1 - (confidence / 100);
        Threshold = Math.Exp(changeHistoryLength * LogBetting(p));
    }

    /// <summary>The martingale value at which the detector alerts.</summary>
    public double Threshold { get; }

    /// <summary>Scores the next value of the series and learns it.</summary>
    public IidScore Process(float value)
    {
        var p = IidSpikeDetector.SideAdjust(_kernel.PValue(value), AnomalySide.TwoSided);
        _kernel.Add(value);

        var update = LogBetting(p);
        if (_logUpdates.Count == 0)
        {
            // ML.NET seeds the whole window with the first update.
            for (var i = 0; i < _logUpdates.Capacity; i++)
            {
                _logUpdates.AddLast(update);
            }

            _logMartingale += _logUpdates.Capacity * update;
        }
        else
        {
            _logMartingale += update - _logUpdates.PeekFirst();
            _logUpdates.AddLast(update);
        }

        var martingale = Math.Exp(_logMartingale);
        var alert = false;
        if (_kernel.IsFull)
        {
            alert = martingale >= Threshold;
            if (alert)
            {
                if (_alertCooldown > 0)
                {
                    alert = false;
                }
                else
                {
                    _alertCooldown = _window;
                }
            }

            _alertCooldown = Math.Max(0, _alertCooldown - 1);
        }

        return new IidScore(alert, value, p, martingale);
    }

    /// <summary>The betting function in log space for p-value <paramref name="p"/>.</summary>
    public double LogBetting(double p) => _martingale switch
    {
        MartingaleType.Power => LogPowerBetting(p, _epsilon),
        _ => LogMixtureBetting(p),
    };

    /// <summary>ln(ε p^(ε-1)).</summary>
    public static double LogPowerBetting(double p, double epsilon) => Math.Log(epsilon) + ((epsilon - 1) * Math.Log(p));

    /// <summary>ln of ∫₀¹ ε p^(ε-1) dε = (p ln p + 1 - p) / (p (ln p)²).</summary>
    public static double LogMixtureBetting(double p)
    {
        var logP = Math.Log(p);
        return Math.Log((p * logP) + 1 - p) - (2 * Math.Log(-logP)) - logP;
    }
}

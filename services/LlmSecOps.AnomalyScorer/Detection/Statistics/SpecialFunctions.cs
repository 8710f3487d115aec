namespace LlmSecOps.AnomalyScorer.Detection.Statistics;

/// <summary>Small numeric helpers shared by the detectors.</summary>
public static class SpecialFunctions
{
    /// <summary>
    /// The error function by Abramowitz and Stegun, Handbook of Mathematical Functions (1964), formula 7.1.26
    /// (absolute error below 1.5e-7). ML.NET's time-series detectors use exactly this approximation
    /// (Microsoft.ML.CpuMath ProbabilityFunctions.Erf), so the kernel p-values here reproduce its baselines.
    /// </summary>
    public static double ErfAbramowitzStegun(double x)
    {
        if (double.IsInfinity(x))
        {
            return double.IsPositiveInfinity(x) ? 1.0 : -1.0;
        }

        const double P = 0.3275911;
        const double A1 = 0.254829592;
        const double A2 = -0.284496736;
        const double A3 = 1.421413741;
        const double A4 = -1.453152027;
        const double A5 = 1.061405429;
        var t = 1.0 / (1.0 + (P * Math.Abs(x)));
        var ev = 1.0 - ((((((((A5 * t) + A4) * t) + A3) * t) + A2) * t) + A1) * t * Math.Exp(-(x * x));
        return x >= 0 ? ev : -ev;
    }

    /// <summary>P(Z &gt;= z) for a standard normal Z, accurate in the far tail (MathNet's erfc).</summary>
    public static double NormalUpperTail(double z) => 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(z / Math.Sqrt(2));

    /// <summary>Clamps a p-value into [<paramref name="min"/>, 1 - <paramref name="min"/>] so logs stay finite.</summary>
    public static double ClampPValue(double p, double min = 1e-12)
    {
        if (double.IsNaN(p))
        {
            return 1.0;
        }

        return Math.Clamp(p, min, 1 - min);
    }
}

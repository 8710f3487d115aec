namespace LlmSecOps.AnomalyScorer.Detection.Statistics;

/// <summary>Median and median absolute deviation (MAD), computed in a caller-provided scratch span.</summary>
public static class RobustStatistics
{
    /// <summary>The constant that makes 1.4826 × MAD a consistent estimator of a normal σ.</summary>
    public const double MadToSigma = 1.4826;

    /// <summary>Median of <paramref name="values"/>; reorders the span. NaN when empty.</summary>
    public static double MedianInPlace(Span<double> values)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        values.Sort();
        var mid = values.Length / 2;
        return (values.Length & 1) == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
    }

    /// <summary>
    /// Median and MAD of <paramref name="values"/>; overwrites the span with absolute deviations.
    /// </summary>
    public static (double Median, double Mad) MedianAndMadInPlace(Span<double> values)
    {
        var median = MedianInPlace(values);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Math.Abs(values[i] - median);
        }

        return (median, MedianInPlace(values));
    }
}

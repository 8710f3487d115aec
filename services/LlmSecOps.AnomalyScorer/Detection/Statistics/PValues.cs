namespace LlmSecOps.AnomalyScorer.Detection.Statistics;

/// <summary>Tests that turn evidence into p-values and combine p-values.</summary>
public static class PValues
{
    /// <summary>
    /// Fisher's method: X = -2 Σ ln p_i follows χ² with 2k degrees of freedom under the joint null of k
    /// independent p-values; returns P(χ²_2k &gt;= X). An empty set gives 1.
    /// </summary>
    public static double Fisher(ReadOnlySpan<double> pValues)
    {
        if (pValues.Length == 0)
        {
            return 1.0;
        }

        var statistic = 0.0;
        foreach (var p in pValues)
        {
            statistic += -2.0 * Math.Log(SpecialFunctions.ClampPValue(p, 1e-300));
        }

        // For χ² with even degrees of freedom 2k the survival function has a closed form:
        // exp(-x/2) Σ_{i<k} (x/2)^i / i!, computed in log space for stability.
        var half = statistic / 2.0;
        var term = 1.0;
        var sum = 1.0;
        for (var i = 1; i < pValues.Length; i++)
        {
            term *= half / i;
            sum += term;
        }

        return Math.Min(1.0, Math.Exp(-half + Math.Log(sum)));
    }

    /// <summary>
    /// One-sided binomial test: P(X &gt;= <paramref name="successes"/>) for X ~ Binomial(<paramref name="trials"/>,
    /// <paramref name="p0"/>), via the regularized incomplete beta function I_p0(k, n - k + 1).
    /// </summary>
    public static double BinomialUpperTail(int successes, int trials, double p0)
    {
        if (successes <= 0)
        {
            return 1.0;
        }

        if (successes > trials)
        {
            return 0.0;
        }

        p0 = Math.Clamp(p0, 1e-9, 1 - 1e-9);
        return MathNet.Numerics.SpecialFunctions.BetaRegularized(successes, trials - successes + 1, p0);
    }

    /// <summary>
    /// P(X &gt;= <paramref name="count"/>) for X ~ Poisson(<paramref name="mean"/>) (regularized lower gamma).
    /// </summary>
    public static double PoissonUpperTail(int count, double mean)
    {
        if (count <= 0)
        {
            return 1.0;
        }

        mean = Math.Max(mean, 1e-9);
        return MathNet.Numerics.SpecialFunctions.GammaLowerRegularized(count, mean);
    }
}

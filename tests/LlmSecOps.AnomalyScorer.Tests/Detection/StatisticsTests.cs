using LlmSecOps.AnomalyScorer.Detection.Statistics;

namespace LlmSecOps.AnomalyScorer.Tests.Detection;

public sealed class StatisticsTests
{
    [Fact]
    public void FisherCombinationMatchesTheChiSquaredSurvivalFunction()
    {
        // X = -2 ln(0.01 * 0.05) = 15.2018; P(chi2_4 >= X) = exp(-X/2) (1 + X/2) = 0.0005 * 8.6009 = 0.0043005 (4 df).
        var x = -2 * Math.Log(0.01 * 0.05);
        var expected = Math.Exp(-x / 2) * (1 + (x / 2));
        Assert.Equal(expected, PValues.Fisher([0.01, 0.05]), 12);
        Assert.Equal(0.0043005, PValues.Fisher([0.01, 0.05]), 6);
        Assert.Equal(0.3, PValues.Fisher([0.3]), 12);
        Assert.Equal(1.0, PValues.Fisher([]));
    }

    [Fact]
    public void BinomialUpperTailMatchesExactSums()
    {
        // P(X >= 3), X ~ Bin(10, 0.1) = 1 - sum_{k<3} C(10,k) 0.1^k 0.9^(10-k) = 0.0701908
        Assert.Equal(0.0701908, PValues.BinomialUpperTail(3, 10, 0.1), 6);
        Assert.Equal(Math.Pow(0.5, 20), PValues.BinomialUpperTail(20, 20, 0.5), 15);
        Assert.Equal(1.0, PValues.BinomialUpperTail(0, 20, 0.5));
    }

    [Fact]
    public void PoissonUpperTailMatchesExactSums()
    {
        // P(X >= 4), X ~ Poisson(1) = 1 - e^-1 (1 + 1 + 1/2 + 1/6) = 0.0189882
        Assert.Equal(0.0189882, PValues.PoissonUpperTail(4, 1), 6);
        Assert.Equal(1.0, PValues.PoissonUpperTail(0, 3));
    }

    [Fact]
    public void MedianAndMadAreRobustToAnOutlier()
    {
        double[] values = [1, 2, 3, 4, 1000];
        var (median, mad) = RobustStatistics.MedianAndMadInPlace(values);
        Assert.Equal(3, median);
        Assert.Equal(1, mad); // |deviations| = 2,1,0,1,997 -> median 1
    }

    [Fact]
    public void ErfApproximationStaysWithinItsPublishedBound()
    {
        foreach (var x in new[] { -3.0, -1.0, -0.1, 0.0, 0.3, 1.0, 2.5 })
        {
            Assert.True(Math.Abs(SpecialFunctions.ErfAbramowitzStegun(x) - MathNet.Numerics.SpecialFunctions.Erf(x)) < 1.5e-7, $"x={x}");
        }
    }

    [Fact]
    public void RingBufferEvictsTheOldestAndReplacesTheNewest()
    {
        var ring = new RingBuffer<int>(3);
        for (var i = 1; i <= 5; i++)
        {
            ring.AddLast(i);
        }

        Assert.Equal([3, 4, 5], Enumerable.Range(0, ring.Count).Select(i => ring[i]));
        ring.SetLast(9);
        Assert.Equal(9, ring.PeekLast());
        Assert.Equal(3, ring.PeekFirst());
    }

    [Fact]
    public void NoveltyShareFlagsAWindowDominatedByNovelCallsOnlyAgainstAQuietHistory()
    {
        var share = new NoveltyShare(40);
        for (var i = 0; i < 400; i++)
        {
            Assert.Equal(1.0, share.Observe(false, false));
        }

        var p = 1.0;
        for (var i = 0; i < 20; i++)
        {
            p = share.Observe(true, false);
        }

        Assert.True(p < 1e-10, $"p={p}");
    }
}

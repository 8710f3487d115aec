using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Detection.MaxTokens;
using LlmSecOps.AnomalyScorer.Detection.Origin;
using LlmSecOps.AnomalyScorer.Detection.Volume;

namespace LlmSecOps.AnomalyScorer.Tests.Scoring;

public sealed class DetectorTests
{
    private static readonly ScoringOptions Options = new();

    [Fact]
    public void ImpossibleTravelIsReportedWithTheSpeed()
    {
        var origin = new OriginDetector();
        var t = ScorerTestKit.Start;
        for (var i = 0; i < 200; i++)
        {
            origin.Observe(t + (i * 10 * ScorerTestKit.MinuteMs), "DE", 1, new OriginPriors(), Options);
        }

        t += 200 * 10 * ScorerTestKit.MinuteMs;
        DetectorSignal last = default;
        for (var i = 0; i < 4; i++)
        {
            // Germany and the US, minutes apart, back and forth
            last = origin.Observe(t + (i * 2 * ScorerTestKit.MinuteMs), i % 2 == 0 ? "US" : "DE", 1, new OriginPriors(), Options);
        }

        Assert.Equal(4, origin.ImpossibleTravelInLastHour(t + (8 * ScorerTestKit.MinuteMs)));
        Assert.True(last.PValue < 1e-4, $"p={last.PValue}");
        Assert.Contains("impossible travel", last.Reason, StringComparison.Ordinal);
        Assert.Contains("km/h", last.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NeighbouringCountriesAreNotImpossibleTravel()
    {
        var origin = new OriginDetector();
        var t = ScorerTestKit.Start;
        for (var i = 0; i < 200; i++)
        {
            origin.Observe(t + (i * 10 * ScorerTestKit.MinuteMs), "DE", 1, new OriginPriors(), Options);
        }

        t += 200 * 10 * ScorerTestKit.MinuteMs;
        origin.Observe(t, "NL", 1, new OriginPriors(), Options); // ~420 km between centroids: under the 500 km floor
        origin.Observe(t + 60_000, "DE", 1, new OriginPriors(), Options);
        Assert.Equal(0, origin.ImpossibleTravelInLastHour(t + 60_000));
    }

    [Fact]
    public void AKeyThatRunsInTwoRegionsLearnsToTolerateThem()
    {
        var origin = new OriginDetector();
        var t = ScorerTestKit.Start;
        for (var i = 0; i < 5 * 24 * 6; i++)
        {
            origin.Observe(t + (i * 10 * ScorerTestKit.MinuteMs), i % 2 == 0 ? "US" : "IE", 1, new OriginPriors(), Options);
        }

        t += 5 * 24 * 6 * 10 * ScorerTestKit.MinuteMs;
        DetectorSignal s = default;
        for (var i = 0; i < 6; i++)
        {
            s = origin.Observe(t + (i * ScorerTestKit.MinuteMs), i % 2 == 0 ? "US" : "IE", 1, new OriginPriors(), Options);
        }

        Assert.Equal(0, origin.ImpossibleTravelInLastHour(t + (6 * ScorerTestKit.MinuteMs)));
        Assert.True(s.PValue > 0.01, $"p={s.PValue}");
    }

    [Fact]
    public void MaxTokensAtTheCapOnEveryCallStandsOutAgainstAModestHistory()
    {
        var detector = new MaxTokensDetector(40);
        var t = ScorerTestKit.Start;
        for (var i = 0; i < 500; i++)
        {
            detector.Observe(t + i, atCap: i % 100 == 0, length: false, new MaxTokensPriors(), Options);
        }

        DetectorSignal s = default;
        for (var i = 0; i < 30; i++)
        {
            s = detector.Observe(t + 1000 + i, atCap: true, length: true, new MaxTokensPriors(), Options);
        }

        Assert.True(s.PValue < 1e-10, $"p={s.PValue}");
        Assert.Contains("max_tokens", s.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AKeyThatAlwaysAsksForTheCapIsNotAnAnomalyForDoingSo()
    {
        var detector = new MaxTokensDetector(40);
        var t = ScorerTestKit.Start;
        DetectorSignal s = default;
        for (var i = 0; i < 600; i++)
        {
            s = detector.Observe(t + i, atCap: i % 10 != 0, length: false, new MaxTokensPriors(), Options);
        }

        Assert.True(s.PValue > 1e-3, $"p={s.PValue}");
    }

    [Fact]
    public void PopulationPriorCatchesABurstOnABrandNewKeyWhereMlNetsBlindWarmUpCannot()
    {
        var prior = new CountPrior(2, 1);
        var robust = new RobustBurstDetector(128, BurstModel.Robust);
        var mlnet = new RobustBurstDetector(128, BurstModel.MlNetKernel);
        for (var i = 0; i < 5; i++)
        {
            robust.Learn(2);
            mlnet.Learn(2);
        }

        // 60 requests in a minute on a key with five minutes of history
        Assert.True(robust.PValue(60, prior, 8) < 1e-20);
        Assert.Equal(1.0, mlnet.PValue(60, prior, 8));
    }

    [Fact]
    public void AlertedMinutesStayOutOfTheBaseline()
    {
        var detector = new VolumeDetector();
        var priors = new VolumePriors();
        var t = ScorerTestKit.Start;
        for (var m = 0; m < 200; m++)
        {
            detector.Observe(t + (m * 7 * ScorerTestKit.MinuteMs), 100, priors, Options);
        }

        var median = detector.MedianPerMinute;
        t += 200 * 7 * ScorerTestKit.MinuteMs;
        for (var burst = 0; burst < 5; burst++)
        {
            for (var i = 0; i < 100; i++)
            {
                detector.Observe(t + (burst * 10 * ScorerTestKit.MinuteMs) + (i * 500), 100, priors, Options);
            }
        }

        detector.Observe(t + ScorerTestKit.HourMs, 100, priors, Options);
        Assert.Equal(median, detector.MedianPerMinute);
        Assert.True(detector.LearnedMinutes <= 128);
    }
}

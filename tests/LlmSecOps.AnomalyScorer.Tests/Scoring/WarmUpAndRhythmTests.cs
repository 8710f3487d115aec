using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;

namespace LlmSecOps.AnomalyScorer.Tests.Scoring;

public sealed class WarmUpAndRhythmTests
{
    private const ulong HomeNetwork = 0x8000_0000_00AB_CD01;
    private const ulong AttackerNetwork = 0x8000_0000_0012_3401;

    [Fact]
    public void OnAFreshScorerARevokeWorthyBurstOnAKeyWithLittleHistoryIsFlaggedNotRevoked()
    {
        var kit = new ScorerTestKit();
        var t0 = NewKeyThenBurst(kit, populationKeys: 0);

        Assert.False(kit.Scorer.PopulationWarm);
        Assert.Empty(kit.DecisionsFor("key-new", DecisionAction.Revoke));
        var flag = Assert.Single(kit.DecisionsFor("key-new", DecisionAction.Flag),
            d => d.At.ToUnixTimeMilliseconds() >= t0 && d.Reason.StartsWith("would revoke (warm-up", StringComparison.Ordinal));
        Assert.True(flag.Enforced);
    }

    [Fact]
    public void OnceThePopulationPriorsAreLearnedTheSameBurstOnANewKeyIsRevoked()
    {
        var kit = new ScorerTestKit();
        var t0 = NewKeyThenBurst(kit, populationKeys: 40);

        Assert.True(kit.Scorer.PopulationWarm);
        var revoke = Assert.Single(kit.DecisionsFor("key-new", DecisionAction.Revoke));
        Assert.True(revoke.At.ToUnixTimeMilliseconds() - t0 < 120_000);
    }

    [Fact]
    public void AKeyWithDaysOfItsOwnHistoryMayBeRevokedDuringTheWarmUp()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-old", days: 5) + (10 * ScorerTestKit.HourMs);
        for (var i = 0; i < 300; i++)
        {
            kit.Send(ScorerTestKit.Call("key-old", t0 + (i * 600), "VN", AttackerNetwork, maxTokens: 100_000, length: true));
        }

        Assert.False(kit.Scorer.PopulationWarm);
        Assert.Single(kit.DecisionsFor("key-old", DecisionAction.Revoke));
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(0, true)]
    public void ADaylightSavingShiftOfTheDailyRhythmByOneHourIsNotAVolumeAnomaly(int toleranceHours, bool expectAlarm)
    {
        var kit = new ScorerTestKit(new ScoringOptions { RhythmToleranceHours = toleranceHours });
        var random = new Random(5);
        var minVolumeP = 1.0;
        string? reason = null;
        for (var d = 0; d < 21; d++)
        {
            // 14 days of 08:00-18:00 UTC, then the clocks change and the same office hours are 09:00-19:00 UTC
            var shift = d >= 14 ? 1 : 0;
            for (var h = 8 + shift; h < 18 + shift; h++)
            {
                // busiest at the end of the day, so the hour that is new in UTC carries many calls
                var calls = 2 + (3 * (h - 8 - shift));
                for (var c = 0; c < calls; c++)
                {
                    var ts = ScorerTestKit.Start + (d * ScorerTestKit.DayMs) + (h * ScorerTestKit.HourMs) + (c * 59 * ScorerTestKit.HourMs / 60 / calls);
                    kit.Send(ScorerTestKit.Call("key-dst", ts, "DE", HomeNetwork));
                    var volume = kit.Scorer.GetKey("key-dst")!.Signals.Single(s => s.Family == "Volume");
                    if (d >= 14 && volume.PValue < minVolumeP)
                    {
                        minVolumeP = volume.PValue;
                        reason = volume.Reason;
                    }
                }
            }
        }

        Assert.Empty(kit.DecisionsFor("key-dst", DecisionAction.Revoke));
        Assert.True(expectAlarm == minVolumeP <= 1e-6, $"smallest volume p after the shift: {minVolumeP:G3} ({reason})");
    }

    /// <summary>
    /// Optionally a population of ordinary keys for two days (so the daily refresh learns the priors), then a key
    /// that starts on day 2, and on day 3 a burst at the cap from a new country on it. Returns the burst's start.
    /// </summary>
    private static long NewKeyThenBurst(ScorerTestKit kit, int populationKeys)
    {
        var random = new Random(11);
        var events = new List<(long Ts, string KeyId, string Country, ulong Network, int MaxTokens)>();
        for (var k = 0; k < populationKeys; k++)
        {
            for (var d = 0; d < 3; d++)
            {
                for (var c = 0; c < 30; c++)
                {
                    var ts = ScorerTestKit.Start + (d * ScorerTestKit.DayMs) + (8 * ScorerTestKit.HourMs) + random.Next(0, 10 * 3600) * 1000L;
                    events.Add(new(ts, "key-pop-" + k, "DE", HomeNetwork + (ulong)k, random.Next(10) == 0 ? 4096 : 512));
                }
            }
        }

        for (var d = 1; d < 3; d++)
        {
            for (var c = 0; c < 25; c++)
            {
                var ts = ScorerTestKit.Start + (d * ScorerTestKit.DayMs) + (8 * ScorerTestKit.HourMs) + random.Next(0, 10 * 3600) * 1000L;
                events.Add(new(ts, "key-new", "DE", HomeNetwork, 512));
            }
        }

        foreach (var e in events.OrderBy(e => e.Ts))
        {
            kit.Send(ScorerTestKit.Call(e.KeyId, e.Ts, e.Country, e.Network, e.MaxTokens));
        }

        var t0 = ScorerTestKit.Start + (2 * ScorerTestKit.DayMs) + (20 * ScorerTestKit.HourMs);
        for (var i = 0; i < 300; i++)
        {
            kit.Send(ScorerTestKit.Call("key-new", t0 + (i * 600), "VN", AttackerNetwork, maxTokens: 100_000, length: true));
        }

        return t0;
    }
}

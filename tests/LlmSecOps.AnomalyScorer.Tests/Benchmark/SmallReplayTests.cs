using LlmSecOps.AnomalyScorer.Bench.Simulation;

namespace LlmSecOps.AnomalyScorer.Tests.Benchmark;

/// <summary>
/// A small version of the benchmark (docs/benchmarks/anomaly-scorer.md) on a held-out seed: 1,500 keys for 21 days.
/// It asserts the targets where the scorer meets them and, elsewhere, a floor one key under what this seed
/// measured with generator v2 (geography shift 10/12, leaked burst on a new key 11/12), so a regression shows. The
/// generator is deterministic across processes since v2, so these figures do not drift from run to run.
/// </summary>
public sealed class SmallReplayTests
{
    private static readonly Lazy<ReplayResult> Result = new(() => Replay.Run(new ReplayConfig
    {
        Seed = 104,
        Keys = 1500,
        Days = 21,
        AttacksPerScenario = 12,
        LookAlikesPerScenario = 20,
    }));

    [Fact]
    public void LeakedKeyBurstsFromANewCountryAreRevokedWithinTwoMinutesMedian()
    {
        // The full run's 300 of 300 meets the 0.95 target; twelve keys cannot resolve 0.95, so the floor here is 0.9.
        var attacks = Result.Value.Attacks.Where(a => a.Scenario == Scenario.LeakedBurst).ToList();
        Assert.True(attacks.Count(a => a.Detected) >= 0.9 * attacks.Count, Describe(Scenario.LeakedBurst));
        var ttd = attacks.Where(a => a.Detected).Select(a => a.SecondsToRevoke!.Value).Order().ToList();
        Assert.True(ttd[ttd.Count / 2] < 120, $"median time to revoke {ttd[ttd.Count / 2]} s");
    }

    [Theory]
    [InlineData(Scenario.LowAndSlow, 0.80)]
    [InlineData(Scenario.MaxTokensMaxing, 0.80)]
    [InlineData(Scenario.KeySharing, 0.95)]
    [InlineData(Scenario.GeoShift, 0.75)]
    [InlineData(Scenario.LeakedBurstNewKey, 0.80)]
    public void EachAttackScenarioIsRevokedAtLeastAsOftenAsMeasured(Scenario scenario, double floor)
    {
        var attacks = Result.Value.Attacks.Where(a => a.Scenario == scenario).ToList();
        Assert.NotEmpty(attacks);
        Assert.True(attacks.Count(a => a.Detected) >= floor * attacks.Count, Describe(scenario));
    }

    [Fact]
    public void NoBenignLookAlikeIsRevoked()
    {
        var r = Result.Value;
        Assert.True(r.LookAlikeFalseRevocations.Values.Sum() == 0, string.Join(", ", r.LookAlikeFalseRevocations.Select(kv => $"{kv.Key}: {kv.Value}"))
            + " / " + string.Join(" / ", r.FalseRevocationDecisions.Select(d => $"{d.KeyId} {d.At:u} {d.Reason}")));
        Assert.Equal(0, r.DstFalseRevocations);
        Assert.True(r.CleanKeyDays > 15_000, $"{r.CleanKeyDays} clean key-days");
    }

    [Fact]
    public void FalseRevocationsStayRare()
    {
        var r = Result.Value;
        var perTenThousand = r.FalseRevocations / r.CleanKeyDays * 10_000;
        Assert.True(perTenThousand <= 2.0, $"{r.FalseRevocations} false revocations in {r.CleanKeyDays:0} key-days: "
            + string.Join(" / ", r.FalseRevocationDecisions.Select(d => d.Reason)));
    }

    private static string Describe(Scenario s)
    {
        var a = Result.Value.Attacks.Where(x => x.Scenario == s).ToList();
        return $"{s}: {a.Count(x => x.Detected)}/{a.Count} revoked";
    }
}

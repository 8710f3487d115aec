using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;

namespace LlmSecOps.AnomalyScorer.Tests.Scoring;

public sealed class ScorerDecisionTests
{
    private const ulong AttackerNetwork = 0x8000_0000_0012_3401;

    [Fact]
    public void LeakedKeyBurstFromANewCountryIsRevokedWithinTwoMinutesWithItsEvidence()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-leak", days: 10) + (10 * ScorerTestKit.HourMs);

        Decision? revoke = null;
        for (var i = 0; i < 300 && revoke is null; i++)
        {
            kit.Send(ScorerTestKit.Call("key-leak", t0 + (i * 600), "VN", AttackerNetwork, maxTokens: 100_000, length: true));
            var revokes = kit.DecisionsFor("key-leak", DecisionAction.Revoke);
            revoke = revokes.Count > 0 ? revokes[0] : null;
        }

        Assert.NotNull(revoke);
        Assert.True(revoke.At.ToUnixTimeMilliseconds() - t0 < 120_000, $"revoked after {(revoke.At.ToUnixTimeMilliseconds() - t0) / 1000.0} s");
        Assert.True(revoke.Enforced);
        Assert.Equal("tenant-a", revoke.TenantId);
        // two independent families back it, each with its reason
        Assert.True(revoke.Evidence.Signals.Count(s => s.PValue <= 1e-6 && s.Reason is not null) >= 2, revoke.Reason);
        Assert.Contains("first used this week", revoke.Reason, StringComparison.Ordinal);
        Assert.Equal(["DE", "VN"], revoke.Evidence.KnownCountries.Order());
        Assert.True(kit.Scorer.GetKey("key-leak")!.RevokeDecided);
    }

    [Fact]
    public void TrafficLaunchFromHomeIsFlaggedAtMostAndNeverRevoked()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-launch", days: 10) + (9 * ScorerTestKit.HourMs);

        for (var i = 0; i < 3000; i++)
        {
            kit.Send(ScorerTestKit.Call("key-launch", t0 + (i * 1200), "DE", 0x8000_0000_00AB_CD01));
        }

        Assert.Empty(kit.DecisionsFor("key-launch", DecisionAction.Revoke));
        Assert.NotEmpty(kit.DecisionsFor("key-launch", DecisionAction.Flag));
        Assert.All(kit.DecisionsFor("key-launch", DecisionAction.Flag), d => Assert.True(d.Enforced));
    }

    [Fact]
    public void VpnToggleToANewCountryAloneIsNotRevoked()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-vpn", days: 10) + (9 * ScorerTestKit.HourMs);

        // two hours through a VPN exit in Sweden at the usual pace, then back home
        for (var i = 0; i < 6; i++)
        {
            kit.Send(ScorerTestKit.Call("key-vpn", t0 + (i * 20 * ScorerTestKit.MinuteMs), "SE", 0x8000_0000_0077_7701));
        }

        kit.Send(ScorerTestKit.Call("key-vpn", t0 + (3 * ScorerTestKit.HourMs), "DE", 0x8000_0000_00AB_CD01));
        Assert.Empty(kit.DecisionsFor("key-vpn", DecisionAction.Revoke));
        Assert.Contains(kit.Scorer.GetKey("key-vpn")!.KnownCountries, c => c == "SE");
    }

    [Fact]
    public void FailedAuthenticationsNeverCountTowardsAKey()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-victim", days: 3);
        for (var i = 0; i < 2000; i++)
        {
            // anyone can forge "key-victim" with a valid checksum: these carry only the claimed id
            kit.Send(ScorerTestKit.Call("", t0 + (i * 100), "RU", AttackerNetwork, 100_000) with { ClaimedKeyId = "key-victim" });
        }

        Assert.DoesNotContain(kit.Decisions.Decisions, d => d.At.ToUnixTimeMilliseconds() >= t0);
        var claimed = Assert.Single(kit.Scorer.ClaimedKeys(10));
        Assert.Equal("key-victim", claimed.ClaimedKeyId);
        Assert.Equal(2000, claimed.Failures);
        Assert.Equal(2000, kit.Scorer.UnauthenticatedEvents);
    }

    [Theory]
    [InlineData(ScoringPolicy.Observe, DecisionAction.Revoke, false)]
    [InlineData(ScoringPolicy.Flag, DecisionAction.Flag, true)]
    [InlineData(ScoringPolicy.Revoke, DecisionAction.Revoke, true)]
    public void TenantPolicyDecidesWhatARevocationWorthyKeyBecomes(ScoringPolicy policy, DecisionAction expected, bool enforced)
    {
        var options = new ScoringOptions { TenantPolicies = new() { ["tenant-p"] = policy } };
        var kit = new ScorerTestKit(options);
        var t0 = kit.History("key-p", days: 10, tenant: "tenant-p") + (10 * ScorerTestKit.HourMs);
        for (var i = 0; i < 300; i++)
        {
            kit.Send(ScorerTestKit.Call("key-p", t0 + (i * 600), "VN", AttackerNetwork, 100_000, true, tenant: "tenant-p"));
        }

        var decision = Assert.Single(kit.Decisions.Decisions, d => d.KeyId == "key-p" && d.Policy == policy && d.At.ToUnixTimeMilliseconds() >= t0
            && (d.Action == DecisionAction.Revoke || d.Reason.StartsWith("would revoke", StringComparison.Ordinal)));
        Assert.Equal(expected, decision.Action);
        Assert.Equal(enforced, decision.Enforced);
    }

    [Fact]
    public void AllowListedKeysAreRecordedButNotActedOn()
    {
        var kit = new ScorerTestKit(new ScoringOptions { AllowedKeys = ["key-allowed"] });
        var t0 = kit.History("key-allowed", days: 10) + (10 * ScorerTestKit.HourMs);
        for (var i = 0; i < 300; i++)
        {
            kit.Send(ScorerTestKit.Call("key-allowed", t0 + (i * 600), "VN", AttackerNetwork, 100_000, true));
        }

        var revoke = Assert.Single(kit.DecisionsFor("key-allowed", DecisionAction.Revoke));
        Assert.False(revoke.Enforced);
        Assert.StartsWith("allow-listed", revoke.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void FlagsRespectTheCooldown()
    {
        var kit = new ScorerTestKit(new ScoringOptions { FlagCooldownMinutes = 360 });
        var t0 = kit.History("key-cool", days: 10) + (9 * ScorerTestKit.HourMs);
        for (var i = 0; i < 3000; i++)
        {
            kit.Send(ScorerTestKit.Call("key-cool", t0 + (i * 1200), "DE", 0x8000_0000_00AB_CD01));
        }

        // one hour of alerting volume: exactly one flag, however many events fired
        Assert.Single(kit.DecisionsFor("key-cool", DecisionAction.Flag));
    }

    [Fact]
    public void RecentDecisionsAreKeptNewestFirstAndBounded()
    {
        var kit = new ScorerTestKit(new ScoringOptions { RecentDecisions = 2, FlagCooldownMinutes = 0 });
        var t0 = kit.History("key-r", days: 10) + (9 * ScorerTestKit.HourMs);
        for (var i = 0; i < 3000; i++)
        {
            kit.Send(ScorerTestKit.Call("key-r", t0 + (i * 1200), "DE", 0x8000_0000_00AB_CD01));
        }

        var recent = kit.Scorer.RecentDecisions();
        Assert.Equal(2, recent.Count);
        Assert.True(recent[0].At >= recent[1].At);
    }
}

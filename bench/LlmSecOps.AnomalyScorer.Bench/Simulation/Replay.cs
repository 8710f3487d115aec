using System.Diagnostics;
using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Scoring;

namespace LlmSecOps.AnomalyScorer.Bench.Simulation;

/// <summary>One benchmark run's shape.</summary>
public sealed record ReplayConfig
{
    /// <summary>Seed of the generator.</summary>
    public required int Seed { get; init; }

    /// <summary>Keys in the population.</summary>
    public int Keys { get; init; } = 12_000;

    /// <summary>Simulated days.</summary>
    public int Days { get; init; } = 30;

    /// <summary>Keys per attack scenario.</summary>
    public int AttacksPerScenario { get; init; } = 60;

    /// <summary>Keys per benign look-alike scenario.</summary>
    public int LookAlikesPerScenario { get; init; } = 120;

    /// <summary>Share of ordinary keys that start mid-run (new keys).</summary>
    public double NewKeyShare { get; init; } = 0.03;

    /// <summary>Day on which daylight-saving time ends for the keys whose country observes it.</summary>
    public int DstShiftDay { get; init; } = 20;

    /// <summary>Keep the key state of missed attacks for the report.</summary>
    public bool Explain { get; init; }

    /// <summary>Diagnostics: print every event of this key around its injection with the key's signals.</summary>
    public string? TraceKey { get; init; }

    /// <summary>Scorer settings.</summary>
    public ScoringOptions Options { get; init; } = new() { MaxTokensCap = TrafficModel.TierMaxTokens };
}

/// <summary>What one attack instance came to.</summary>
public sealed record AttackOutcome(Scenario Scenario, string KeyId, bool Detected, double? SecondsToRevoke, long AttackTokensBeforeRevocation, long AttackEvents);

/// <summary>The result of a replay.</summary>
public sealed record ReplayResult(
    ReplayConfig Config,
    long Events,
    double Seconds,
    IReadOnlyList<AttackOutcome> Attacks,
    double CleanKeyDays,
    int FalseRevocations,
    IReadOnlyDictionary<Scenario, int> LookAlikeKeys,
    IReadOnlyDictionary<Scenario, int> LookAlikeFalseRevocations,
    IReadOnlyDictionary<Scenario, int> LookAlikeFlags,
    int DstKeys,
    int DstFalseRevocations,
    int FlagsOnCleanKeys,
    IReadOnlyDictionary<Scenario, int> RevocationsOutsideAttackWindow,
    IReadOnlyList<Decision> FalseRevocationDecisions)
{
    /// <summary>With <see cref="ReplayConfig.Explain"/>: missed attacks' key state at the attack's end.</summary>
    public IReadOnlyDictionary<string, KeyScoreView?> MissedViews { get; init; } = new Dictionary<string, KeyScoreView?>();

    /// <summary>Events per wall-clock second, generation included.</summary>
    public double EventsPerSecond => Events / Seconds;
}

/// <summary>
/// Replays a seeded population through the real <see cref="Scorer"/> in-process at accelerated event time: every key's
/// stream is merged in time order, the scorer's clock is the event time, and a revocation decision makes the key's
/// later events failed authentications (as the gateway would).
/// </summary>
public static class Replay
{
    private const long DayMs = 86_400_000;

    /// <summary>Runs one replay.</summary>
    public static ReplayResult Run(ReplayConfig config)
    {
        var start = TrafficModel.Epoch.ToUnixTimeMilliseconds();
        var end = start + (config.Days * DayMs);
        var dstShift = start + (config.DstShiftDay * DayMs);
        var assign = new Random(config.Seed);
        var order = Enumerable.Range(0, config.Keys).OrderBy(_ => assign.Next()).ToArray();
        var scenarioOf = new Scenario[config.Keys];
        var next = 0;
        foreach (var s in Enum.GetValues<Scenario>().Where(s => s != Scenario.None))
        {
            var n = s.IsAttack() ? config.AttacksPerScenario : config.LookAlikesPerScenario;
            for (var i = 0; i < n && next < order.Length; i++)
            {
                scenarioOf[order[next++]] = s;
            }
        }

        var streams = new KeyStream[config.Keys];
        for (var i = 0; i < config.Keys; i++)
        {
            var s = scenarioOf[i];
            var keyStart = start;
            long injectAt = 0;
            if (s == Scenario.LeakedBurstNewKey)
            {
                keyStart = start + (long)((7 + (assign.NextDouble() * (config.Days - 10))) * DayMs);
                injectAt = keyStart + (long)((26 + (assign.NextDouble() * 22)) * 3_600_000);
            }
            else if (s != Scenario.None)
            {
                injectAt = start + (long)((7 + (assign.NextDouble() * (config.Days - 10))) * DayMs);
            }
            else if (assign.NextDouble() < config.NewKeyShare)
            {
                keyStart = start + (long)(assign.NextDouble() * (config.Days - 1) * DayMs);
            }

            streams[i] = new KeyStream(config.Seed, i, keyStart, end, dstShift, s, injectAt);
        }

        var byId = streams.ToDictionary(s => s.KeyId, StringComparer.Ordinal);
        var clock = new ReplayClock(TrafficModel.Epoch);
        var sink = new GatewaySink(byId);
        var scorer = new Scorer(config.Options, clock, sink);
        var queue = new PriorityQueue<KeyStream, long>(config.Keys);
        foreach (var s in streams)
        {
            if (s.NextMs < end)
            {
                queue.Enqueue(s, s.NextMs);
            }
        }

        long events = 0;
        var missed = new Dictionary<string, KeyScoreView?>(StringComparer.Ordinal);
        var watch = Stopwatch.StartNew();
        while (queue.TryDequeue(out var stream, out var t))
        {
            clock.Set(t);
            var e = stream.Next();
            scorer.Process(e);
            events++;
            if (config.TraceKey is not null && string.Equals(stream.KeyId, config.TraceKey, StringComparison.Ordinal))
            {
                Trace(scorer, stream, e);
            }

            if (config.Explain && stream.Injection is { } inj && inj.Scenario.IsAttack() && t >= inj.EndMs
                && stream.RevokedAtMs == long.MaxValue && !missed.ContainsKey(stream.KeyId))
            {
                missed[stream.KeyId] = scorer.GetKey(stream.KeyId);
            }
            var n = stream.NextMs;
            if (n < end)
            {
                queue.Enqueue(stream, n);
            }
        }

        watch.Stop();
        var result = Summarise(config, streams, sink.Decisions, events, watch.Elapsed.TotalSeconds, end, dstShift);
        return result with { MissedViews = missed };
    }

    private static void Trace(Scorer scorer, KeyStream stream, in ScoringEvent e)
    {
        var inj = stream.Injection;
        if (inj is null || e.TimestampMs < inj.StartMs - 3_600_000 || e.TimestampMs > inj.EndMs + 3_600_000)
        {
            return;
        }

        var view = scorer.GetKey(stream.KeyId);
        var signals = view is null ? "-" : string.Join(" | ", view.Signals.Select(s => FormattableString.Invariant($"{s.Family[..3]} {s.PValue:G2} {s.Reason}")));
        Console.Error.WriteLine(FormattableString.Invariant(
            $"{DateTimeOffset.FromUnixTimeMilliseconds(e.TimestampMs):u} {e.Country} {e.Network:x} key={e.KeyId.Length > 0} {signals}"));
    }

    private static ReplayResult Summarise(
        ReplayConfig config, KeyStream[] streams, IReadOnlyList<Decision> decisions, long events, double seconds, long end, long dstShift)
    {
        var revocations = decisions.Where(d => d.Action == DecisionAction.Revoke && d.Enforced)
            .GroupBy(d => d.KeyId).ToDictionary(g => g.Key, g => g.OrderBy(d => d.At).First(), StringComparer.Ordinal);
        var flags = decisions.Where(d => d.Action == DecisionAction.Flag).GroupBy(d => d.KeyId)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var attacks = new List<AttackOutcome>();
        double cleanKeyDays = 0;
        var falseRevocations = new List<Decision>();
        var lookKeys = new Dictionary<Scenario, int>();
        var lookFalse = new Dictionary<Scenario, int>();
        var lookFlags = new Dictionary<Scenario, int>();
        var outside = new Dictionary<Scenario, int>();
        int dstKeys = 0, dstFalse = 0, cleanFlags = 0;
        foreach (var s in streams)
        {
            revocations.TryGetValue(s.KeyId, out var revoke);
            var revokedAt = revoke?.At.ToUnixTimeMilliseconds();
            var inj = s.Injection;
            var cleanUntil = inj is not null && inj.Scenario.IsAttack() ? inj.StartMs : end;
            cleanKeyDays += Math.Max(0, cleanUntil - s.StartMs) / (double)DayMs;
            if (revokedAt is { } r && r < cleanUntil)
            {
                falseRevocations.Add(revoke!);
                if (inj is not null && !inj.Scenario.IsAttack() && r >= inj.StartMs)
                {
                    lookFalse[inj.Scenario] = lookFalse.GetValueOrDefault(inj.Scenario) + 1;
                }

                if (s.ObservesDst && r >= dstShift)
                {
                    dstFalse++;
                }

                if (inj is not null && inj.Scenario.IsAttack())
                {
                    outside[inj.Scenario] = outside.GetValueOrDefault(inj.Scenario) + 1;
                }
            }

            if (s.ObservesDst && s.StartMs < dstShift)
            {
                dstKeys++;
            }

            var keyFlags = flags.GetValueOrDefault(s.KeyId)?.Count(f => f.At.ToUnixTimeMilliseconds() < cleanUntil) ?? 0;
            if (inj is not null && !inj.Scenario.IsAttack())
            {
                lookKeys[inj.Scenario] = lookKeys.GetValueOrDefault(inj.Scenario) + 1;
                lookFlags[inj.Scenario] = lookFlags.GetValueOrDefault(inj.Scenario)
                    + (flags.GetValueOrDefault(s.KeyId)?.Count(f => f.At.ToUnixTimeMilliseconds() >= inj.StartMs) ?? 0);
            }
            else if (inj is null)
            {
                cleanFlags += keyFlags;
            }

            if (inj is not null && inj.Scenario.IsAttack())
            {
                // detected: revoked during the attack (or within an hour after its last event)
                var detected = revokedAt is { } ra && ra >= inj.StartMs && ra <= inj.EndMs + 3_600_000;
                if (revokedAt is { } rb && rb > inj.EndMs + 3_600_000)
                {
                    outside[inj.Scenario] = outside.GetValueOrDefault(inj.Scenario) + 1;
                }

                attacks.Add(new AttackOutcome(inj.Scenario, s.KeyId, detected,
                    detected ? (revokedAt!.Value - inj.StartMs) / 1000.0 : null, s.AttackTokens, s.AttackEvents));
            }
        }

        return new ReplayResult(config, events, seconds, attacks, cleanKeyDays, falseRevocations.Count, lookKeys, lookFalse, lookFlags,
            dstKeys, dstFalse, cleanFlags, outside, falseRevocations);
    }

    private sealed class GatewaySink(Dictionary<string, KeyStream> streams) : IDecisionSink
    {
        private readonly List<Decision> _decisions = [];

        public IReadOnlyList<Decision> Decisions => _decisions;

        public void Submit(Decision decision)
        {
            _decisions.Add(decision);
            if (decision.Action == DecisionAction.Revoke && decision.Enforced && streams.TryGetValue(decision.KeyId, out var s))
            {
                s.Revoke(decision.At.ToUnixTimeMilliseconds());
            }
        }
    }
}

/// <summary>A <see cref="TimeProvider"/> whose time is set by the replay (accelerated event time).</summary>
public sealed class ReplayClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    /// <summary>Moves the clock to unix ms <paramref name="ms"/>.</summary>
    public void Set(long ms) => _now = DateTimeOffset.FromUnixTimeMilliseconds(ms);

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => _now;
}

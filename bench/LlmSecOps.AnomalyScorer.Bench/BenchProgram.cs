using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlmSecOps.AnomalyScorer.Bench.Simulation;
using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Detection.Volume;
using LlmSecOps.AnomalyScorer.Scoring;
using MathNet.Numerics.Distributions;

namespace LlmSecOps.AnomalyScorer.Bench;

/// <summary>
/// The anomaly scorer's benchmark: replays seeded synthetic populations (tuning seeds and held-out seeds) through the
/// real scorer and prints the report of docs/benchmarks/anomaly-scorer.md. Options:
/// <c>--keys N --days D --attacks N --lookalikes N --tuning 1,2 --heldout 101,102 --throughput --compare-mlnet</c>.
/// </summary>
public static class BenchProgram
{
    /// <summary>Entry point.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        var keys = Int(args, "--keys", 12_000);
        var days = Int(args, "--days", 30);
        var attacks = Int(args, "--attacks", 60);
        var look = Int(args, "--lookalikes", 120);
        var tuning = Seeds(args, "--tuning", [1, 2]);
        var heldOut = Seeds(args, "--heldout", [101, 102, 103]);
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Generator v{TrafficModel.Version}; {keys:N0} keys x {days} days per seed; {attacks} keys per attack scenario, {look} per look-alike; {Environment.ProcessorCount} logical CPUs visible.");
        report.AppendLine();

        foreach (var (label, seeds) in new[] { ("Tuning seeds", tuning), ("Held-out seeds", heldOut) })
        {
            if (seeds.Length == 0)
            {
                continue;
            }

            var results = new List<ReplayResult>();
            foreach (var seed in seeds)
            {
                var r = Replay.Run(new ReplayConfig { Seed = seed, Keys = keys, Days = days, AttacksPerScenario = attacks, LookAlikesPerScenario = look, Explain = args.Contains("--explain"), TraceKey = Text(args, "--trace"), Options = Options(args) });
                Console.Error.WriteLine(FormattableString.Invariant($"seed {seed}: {r.Events:N0} events in {r.Seconds:0.0} s ({r.EventsPerSecond:N0} events/s incl. generation)"));
                results.Add(r);
            }

            report.AppendLine(CultureInfo.InvariantCulture, $"### {label}: {string.Join(", ", seeds)}");
            report.AppendLine();
            Write(report, results);
        }

        if (args.Contains("--compare-mlnet"))
        {
            report.AppendLine("### Burst model side by side (held-out seed " + heldOut.FirstOrDefault(101) + ", same population)");
            report.AppendLine();
            report.AppendLine("| burst model | leaked-key burst recall | median s to revoke | leaked burst on new key recall | median s | false revocations |");
            report.AppendLine("|---|---|---|---|---|---|");
            foreach (var model in new[] { BurstModel.Robust, BurstModel.MlNetKernel })
            {
                var r = Replay.Run(new ReplayConfig
                {
                    Seed = heldOut.FirstOrDefault(101), Keys = keys / 3, Days = days, AttacksPerScenario = attacks, LookAlikesPerScenario = look / 3,
                    Options = new ScoringOptions { BurstModel = model, MaxTokensCap = TrafficModel.TierMaxTokens },
                });
                string Row(Scenario s)
                {
                    var a = r.Attacks.Where(x => x.Scenario == s).ToList();
                    var ttd = a.Where(x => x.Detected).Select(x => x.SecondsToRevoke!.Value).ToArray();
                    return FormattableString.Invariant($"{a.Count(x => x.Detected) / (double)Math.Max(1, a.Count):0.000} | {Percentile(ttd, 0.5):0}");
                }

                report.AppendLine(CultureInfo.InvariantCulture, $"| {model} | {Row(Scenario.LeakedBurst)} | {Row(Scenario.LeakedBurstNewKey)} | {r.FalseRevocations} in {r.CleanKeyDays:N0} key-days |");
            }

            report.AppendLine();
        }

        if (args.Contains("--throughput"))
        {
            report.AppendLine(Throughput(keys, days));
        }

        Console.WriteLine(report.ToString());
        return Task.FromResult(0);
    }

    /// <summary>Writes the per-scenario table for a group of runs.</summary>
    public static void Write(StringBuilder report, IReadOnlyList<ReplayResult> results)
    {
        report.AppendLine("| attack scenario | keys | recall | precision | time to revoke median / p95 | attacker tokens before revocation median / p95 |");
        report.AppendLine("|---|---|---|---|---|---|");
        foreach (var s in Enum.GetValues<Scenario>().Where(s => s.IsAttack()))
        {
            var a = results.SelectMany(r => r.Attacks).Where(x => x.Scenario == s).ToList();
            if (a.Count == 0)
            {
                continue;
            }

            var detected = a.Where(x => x.Detected).ToList();
            var outside = results.Sum(r => r.RevocationsOutsideAttackWindow.GetValueOrDefault(s));
            var ttd = detected.Select(x => x.SecondsToRevoke!.Value).ToArray();
            var tokens = detected.Select(x => (double)x.AttackTokensBeforeRevocation).ToArray();
            report.AppendLine(FormattableString.Invariant(
                $"| {s.Name()} | {a.Count} | {detected.Count / (double)a.Count:0.000} ({detected.Count}/{a.Count}) | {detected.Count / (double)Math.Max(1, detected.Count + outside):0.000} | {Duration(Percentile(ttd, 0.5))} / {Duration(Percentile(ttd, 0.95))} | {Percentile(tokens, 0.5):N0} / {Percentile(tokens, 0.95):N0} |"));
        }

        var keyDays = results.Sum(r => r.CleanKeyDays);
        var falseRevocations = results.Sum(r => r.FalseRevocations);
        var upper = PoissonUpper95(falseRevocations) / keyDays * 10_000;
        var totalRevocations = falseRevocations + results.Sum(r => r.Attacks.Count(a => a.Detected)) + results.Sum(r => r.RevocationsOutsideAttackWindow.Values.Sum());
        report.AppendLine();
        report.AppendLine(FormattableString.Invariant(
            $"Clean key-days: {keyDays:N0}; false revocations: {falseRevocations} = {falseRevocations / keyDays * 10_000:0.000} per 10,000 key-days (95% upper bound {upper:0.000}); overall precision {(totalRevocations - falseRevocations) / (double)Math.Max(1, totalRevocations):0.000}; flags (incidents, no revocation) on untouched keys: {results.Sum(r => r.FlagsOnCleanKeys)} = {results.Sum(r => r.FlagsOnCleanKeys) / keyDays * 10_000:0.0} per 10,000 key-days."));
        report.AppendLine();
        report.AppendLine("| benign look-alike | keys | false revocations | flags (incidents) |");
        report.AppendLine("|---|---|---|---|");
        foreach (var s in Enum.GetValues<Scenario>().Where(s => s != Scenario.None && !s.IsAttack()))
        {
            report.AppendLine(FormattableString.Invariant(
                $"| {s.Name()} | {results.Sum(r => r.LookAlikeKeys.GetValueOrDefault(s))} | {results.Sum(r => r.LookAlikeFalseRevocations.GetValueOrDefault(s))} | {results.Sum(r => r.LookAlikeFlags.GetValueOrDefault(s))} |"));
        }

        report.AppendLine(FormattableString.Invariant(
            $"| daylight-saving shift (every key in a DST country, day {results[0].Config.DstShiftDay}) | {results.Sum(r => r.DstKeys)} | {results.Sum(r => r.DstFalseRevocations)} | - |"));
        report.AppendLine();
        foreach (var d in results.SelectMany(r => r.FalseRevocationDecisions).Take(5))
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"- false revocation {d.KeyId} at {d.At:u}: {d.Reason}");
        }

        foreach (var (keyId, view) in results.SelectMany(r => r.MissedViews).Take(20))
        {
            var scenario = results.SelectMany(r => r.Attacks).First(a => a.KeyId == keyId).Scenario;
            var detail = view is null ? "no state" : string.Join(" | ",
                view.Signals.Select(s => FormattableString.Invariant($"{s.Family} p={s.PValue:G2} {s.Reason}")));
            report.AppendLine("- missed " + scenario + " " + keyId + ": " + detail);
        }

        report.AppendLine(FormattableString.Invariant(
            $"Replay: {results.Sum(r => r.Events):N0} events in {results.Sum(r => r.Seconds):0.0} s = {results.Sum(r => r.Events) / results.Sum(r => r.Seconds):N0} events/s (generation + scoring, one thread)."));
        report.AppendLine();
    }

    private static string Throughput(int keys, int days)
    {
        // Pre-generate events (seed 7), then time the scorer alone on one thread.
        var config = new ReplayConfig { Seed = 7, Keys = Math.Min(keys, 6000), Days = Math.Min(days, 14), AttacksPerScenario = 10, LookAlikesPerScenario = 10 };
        var events = new List<ScoringEvent>(4_000_000);
        var start = TrafficModel.Epoch.ToUnixTimeMilliseconds();
        var end = start + (config.Days * 86_400_000L);
        var streams = Enumerable.Range(0, config.Keys).Select(i => new KeyStream(config.Seed, i, start, end, end, Scenario.None, 0)).ToArray();
        var queue = new PriorityQueue<KeyStream, long>();
        foreach (var s in streams)
        {
            queue.Enqueue(s, s.NextMs);
        }

        while (events.Count < 3_000_000 && queue.TryDequeue(out var st, out _))
        {
            events.Add(st.Next());
            if (st.NextMs < end)
            {
                queue.Enqueue(st, st.NextMs);
            }
        }

        var clock = new ReplayClock(TrafficModel.Epoch);
        var scorer = new Scorer(new ScoringOptions { MaxTokensCap = TrafficModel.TierMaxTokens }, clock, new DecisionRecorder());
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(events);
        var warm = Math.Min(200_000, span.Length / 10);
        for (var i = 0; i < warm; i++)
        {
            clock.Set(span[i].TimestampMs);
            scorer.Process(span[i]);
        }

        var watch = Stopwatch.StartNew();
        for (var i = warm; i < span.Length; i++)
        {
            clock.Set(span[i].TimestampMs);
            scorer.Process(span[i]);
        }

        watch.Stop();
        var n = span.Length - warm;
        return FormattableString.Invariant(
            $"Scorer alone (events pre-generated, {config.Keys:N0} keys, one thread, includes the daily isolation-forest refreshes): {n:N0} events in {watch.Elapsed.TotalSeconds:0.00} s = {n / watch.Elapsed.TotalSeconds:N0} events/s.\n");
    }

    /// <summary>One-sided 95% upper confidence bound of a Poisson count (exact, via χ²).</summary>
    public static double PoissonUpper95(int k) => ChiSquared.InvCDF(2 * (k + 1), 0.95) / 2;

    /// <summary>Nearest-rank percentile, NaN when empty.</summary>
    public static double Percentile(double[] values, double q)
    {
        if (values.Length == 0)
        {
            return double.NaN;
        }

        var sorted = values.OrderBy(v => v).ToArray();
        var rank = (int)Math.Ceiling(q * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static string Duration(double seconds) => double.IsNaN(seconds) ? "-"
        : seconds < 120 ? FormattableString.Invariant($"{seconds:0} s")
        : seconds < 7200 ? FormattableString.Invariant($"{seconds / 60:0.0} min")
        : FormattableString.Invariant($"{seconds / 3600:0.0} h");

    private static string? Text(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The scorer's options, with <c>--set Name=Value,Name=Value</c> applied (for tuning on the tuning seeds).</summary>
    private static ScoringOptions Options(string[] args)
    {
        var options = new ScoringOptions { MaxTokensCap = TrafficModel.TierMaxTokens };
        if (Text(args, "--set") is not { } set)
        {
            return options;
        }

        foreach (var pair in set.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var property = typeof(ScoringOptions).GetProperty(parts[0]) ?? throw new ArgumentException($"--set: no setting {parts[0]}");
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            property.SetValue(options, type.IsEnum ? Enum.Parse(type, parts[1]) : Convert.ChangeType(parts[1], type, CultureInfo.InvariantCulture));
        }

        return options;
    }

    private static int Int(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static int[] Seeds(string[] args, string name, int[] fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length
            ? [.. args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))]
            : fallback;
    }
}

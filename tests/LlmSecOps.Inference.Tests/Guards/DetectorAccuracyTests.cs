using System.Text.Json;
using LlmSecOps.Inference.Guards;
using Xunit.Abstractions;

namespace LlmSecOps.Inference.Tests.Guards;

/// <summary>
/// Measures every detector on the committed labelled set (Guards/Data/detectors.jsonl, made by
/// generate_detector_set.py): per detector, on its own items (positives and hard negatives), a finding is a true
/// positive when it overlaps an expected substring, else a false positive; an expected substring no finding overlaps
/// is a false negative. The figures are printed and recorded in docs/guards.md; the floors below are what we
/// promise, set under the measured values so a regression fails.
/// </summary>
public sealed class DetectorAccuracyTests(ITestOutputHelper output)
{
    private sealed record Item(string Detector, string Text, string[] Expected, bool? Label);

    private static readonly Lazy<IReadOnlyList<Item>> Items = new(() =>
        File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Guards", "Data", "detectors.jsonl"))
            .Select(line =>
            {
                var e = JsonDocument.Parse(line).RootElement;
                return new Item(
                    e.GetProperty("detector").GetString()!,
                    e.GetProperty("text").GetString()!,
                    e.TryGetProperty("expected", out var x) ? x.EnumerateArray().Select(v => v.GetString()!).ToArray() : [],
                    e.TryGetProperty("label", out var l) ? l.GetBoolean() : null);
            })
            .ToList());

    public static TheoryData<DetectorKind, double, double> Floors() => new()
    {
        // kind, precision floor, recall floor
        { DetectorKind.LlmSecOpsKey, 1.0, 1.0 },
        { DetectorKind.AwsAccessKeyId, 0.95, 0.95 },
        { DetectorKind.AwsSecretAccessKey, 0.95, 0.95 },
        { DetectorKind.GitHubToken, 0.95, 0.95 },
        { DetectorKind.SlackToken, 0.95, 0.95 },
        { DetectorKind.PrivateKey, 0.95, 0.95 },
        { DetectorKind.Jwt, 0.95, 0.95 },
        { DetectorKind.CreditCard, 0.9, 0.9 },
        { DetectorKind.Email, 0.85, 0.9 },
        { DetectorKind.Iban, 0.9, 0.9 },
        { DetectorKind.PhoneNumber, 0.85, 0.85 },
        { DetectorKind.UsSsn, 0.9, 0.85 },
    };

    [Theory]
    [MemberData(nameof(Floors))]
    public void EachDetectorMeetsItsPrecisionAndRecallFloorOnTheLabelledSet(DetectorKind kind, double precisionFloor, double recallFloor)
    {
        var name = Redaction.Name(kind);
        var items = Items.Value.Where(i => i.Detector == name).ToList();
        Assert.True(items.Count >= 40, $"{name} has only {items.Count} labelled items");

        var detector = Detectors.Get(kind);
        int tp = 0, fp = 0, fn = 0;
        foreach (var item in items)
        {
            var findings = new List<Finding>();
            detector.Find(item.Text, findings);
            var expected = item.Expected.Select(e => (Start: item.Text.IndexOf(e, StringComparison.Ordinal), e.Length)).ToList();

            foreach (var f in findings)
            {
                if (expected.Any(e => f.Start < e.Start + e.Length && e.Start < f.End))
                {
                    tp++;
                }
                else
                {
                    fp++;
                    output.WriteLine($"FP {name}: {item.Text[f.Start..f.End]}");
                }
            }

            foreach (var e in expected)
            {
                if (!findings.Any(f => f.Start < e.Start + e.Length && e.Start < f.End))
                {
                    fn++;
                    output.WriteLine($"FN {name}: {item.Text.Substring(e.Start, e.Length)}");
                }
            }
        }

        var precision = tp + fp == 0 ? 1.0 : (double)tp / (tp + fp);
        var recall = tp + fn == 0 ? 1.0 : (double)tp / (tp + fn);
        output.WriteLine($"| {name} | {items.Count} | {items.Count(i => i.Expected.Length > 0)} | {tp} | {fp} | {fn} | {precision:F3} | {recall:F3} |");

        Assert.True(precision >= precisionFloor, $"{name} precision {precision:F3} < {precisionFloor}");
        Assert.True(recall >= recallFloor, $"{name} recall {recall:F3} < {recallFloor}");
    }

    [Fact]
    public void ThePromptInjectionHeuristicMeetsItsFloorOnTheLabelledSet()
    {
        var items = Items.Value.Where(i => i.Detector == "prompt_injection").ToList();
        Assert.True(items.Count >= 40);

        var detector = new PromptInjectionDetector();
        int tp = 0, fp = 0, fn = 0, tn = 0;
        foreach (var item in items)
        {
            var verdict = detector.Score(item.Text);
            switch (verdict.Flagged, item.Label!.Value)
            {
                case (true, true): tp++; break;
                case (true, false): fp++; output.WriteLine($"FP: {item.Text} [{string.Join(',', verdict.Signals)}]"); break;
                case (false, true): fn++; output.WriteLine($"FN: {item.Text} ({verdict.Score:F2})"); break;
                default: tn++; break;
            }
        }

        var precision = (double)tp / Math.Max(1, tp + fp);
        var recall = (double)tp / Math.Max(1, tp + fn);
        output.WriteLine($"| prompt_injection | {items.Count} | {tp + fn} | {tp} | {fp} | {fn} | {precision:F3} | {recall:F3} |  (TN {tn})");

        Assert.True(precision >= 0.85, $"precision {precision:F3}");
        Assert.True(recall >= 0.8, $"recall {recall:F3}");
    }
}

using LlmSecOps.Inference.Parameters;

namespace LlmSecOps.Inference.Guards;

/// <summary>What a guard does when it fires.</summary>
public enum GuardAction
{
    /// <summary>Not evaluated.</summary>
    Off,

    /// <summary>Recorded (event/record/log reason), request forwarded. The default.</summary>
    Flag,

    /// <summary>Request refused (400 <c>guard_blocked</c>).</summary>
    Block,
}

/// <summary>Per-tenant input guard policy. Defaults flag and never block.</summary>
public sealed class InputGuardPolicy
{
    /// <summary>Prompt-injection heuristic. Default <see cref="GuardAction.Flag"/>.</summary>
    public GuardAction PromptInjection { get; set; } = GuardAction.Flag;

    /// <summary>Score at which the heuristic fires. Default 0.5.</summary>
    public double InjectionThreshold { get; set; } = 0.5;

    /// <summary>Personal data in the prompt. Default <see cref="GuardAction.Flag"/>.</summary>
    public GuardAction Pii { get; set; } = GuardAction.Flag;

    /// <summary>Secrets (our keys, cloud credentials, private keys) in the prompt. Default <see cref="GuardAction.Flag"/>.</summary>
    public GuardAction Secrets { get; set; } = GuardAction.Flag;

    /// <summary>Largest amount of prompt text scanned, in chars (the rest is not scanned; the result says so). Default 1,000,000.</summary>
    public int MaxScannedChars { get; set; } = 1_000_000;
}

/// <summary>The input guards' verdict on one request.</summary>
/// <param name="Blocked">True when a guard set to block fired.</param>
/// <param name="Reasons">Short machine reasons (e.g. <c>prompt_injection:override_instructions</c>, <c>pii:email</c>); never prompt text.</param>
/// <param name="InjectionScore">The injection heuristic's score.</param>
/// <param name="Truncated">True when the prompt was longer than the scan limit.</param>
public sealed record InputGuardResult(bool Blocked, IReadOnlyList<string> Reasons, double InjectionScore, bool Truncated)
{
    /// <summary>True when anything fired.</summary>
    public bool Flagged => Reasons.Count > 0;
}

/// <summary>Runs the input guards over the prompt texts the parser collected.</summary>
public static class InputGuard
{
    /// <summary>Evaluates <paramref name="policy"/> on the texts of <paramref name="parameters"/> (offsets into <paramref name="body"/>, the ORIGINAL body).</summary>
    public static InputGuardResult Evaluate(RequestParameters parameters, ReadOnlySpan<byte> body, InputGuardPolicy policy)
    {
        var texts = new List<string>(parameters.TextRanges.Count);
        var total = 0;
        var truncated = false;
        foreach (var range in parameters.TextRanges)
        {
            if (total >= policy.MaxScannedChars)
            {
                truncated = true;
                break;
            }

            var text = range.GetText(body);
            if (total + text.Length > policy.MaxScannedChars)
            {
                text = text[..(policy.MaxScannedChars - total)];
                truncated = true;
            }

            total += text.Length;
            texts.Add(text);
        }

        return Evaluate(texts, policy, truncated);
    }

    /// <summary>Evaluates <paramref name="policy"/> on plain texts.</summary>
    public static InputGuardResult Evaluate(IReadOnlyList<string> texts, InputGuardPolicy policy, bool truncated = false)
    {
        var reasons = new List<string>();
        var blocked = false;
        var score = 0.0;

        if (policy.PromptInjection != GuardAction.Off)
        {
            var detector = new PromptInjectionDetector { Threshold = policy.InjectionThreshold };
            foreach (var text in texts)
            {
                var verdict = detector.Score(text);
                score = Math.Max(score, verdict.Score);
                if (verdict.Flagged)
                {
                    foreach (var signal in verdict.Signals)
                    {
                        AddOnce(reasons, "prompt_injection:" + signal);
                    }

                    blocked |= policy.PromptInjection == GuardAction.Block;
                }
            }
        }

        Scan(texts, policy.Secrets, Detectors.Secrets, "secret:", reasons, ref blocked);
        Scan(texts, policy.Pii, Detectors.Pii, "pii:", reasons, ref blocked);
        return new InputGuardResult(blocked, reasons, score, truncated);
    }

    private static void Scan(IReadOnlyList<string> texts, GuardAction action, IReadOnlyList<Detector> detectors, string prefix,
        List<string> reasons, ref bool blocked)
    {
        if (action == GuardAction.Off)
        {
            return;
        }

        var findings = new List<Finding>();
        foreach (var text in texts)
        {
            findings.Clear();
            foreach (var d in detectors)
            {
                d.Find(text, findings);
            }

            foreach (var f in findings)
            {
                AddOnce(reasons, prefix + Redaction.Name(f.Kind));
                blocked |= action == GuardAction.Block;
            }
        }
    }

    private static void AddOnce(List<string> reasons, string reason)
    {
        if (!reasons.Contains(reason))
        {
            reasons.Add(reason);
        }
    }
}

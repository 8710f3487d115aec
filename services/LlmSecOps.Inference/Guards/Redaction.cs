using System.Text;

namespace LlmSecOps.Inference.Guards;

/// <summary>Replaces findings with <c>[REDACTED:kind]</c>.</summary>
public static class Redaction
{
    private static readonly string[] s_names =
    [
        "llmsecops_key", "aws_access_key_id", "aws_secret_access_key", "github_token", "slack_token", "private_key",
        "jwt", "credit_card", "email", "iban", "phone_number", "us_ssn",
    ];

    private static readonly string[] s_placeholders = s_names.Select(n => "[REDACTED:" + n + "]").ToArray();

    /// <summary>The snake_case name of a kind (for logs, events and placeholders).</summary>
    public static string Name(DetectorKind kind) => s_names[(int)kind];

    /// <summary>The placeholder written in place of a finding.</summary>
    public static string Placeholder(DetectorKind kind) => s_placeholders[(int)kind];

    /// <summary>Redacts every finding of <paramref name="detectors"/> (default: all) in <paramref name="text"/>.</summary>
    public static string Redact(string text, IReadOnlyList<Detector>? detectors = null) =>
        Apply(text, Detectors.FindAll(text, detectors ?? Detectors.All));

    /// <summary>Writes <paramref name="text"/> with non-overlapping, ordered <paramref name="findings"/> replaced.</summary>
    public static string Apply(ReadOnlySpan<char> text, IReadOnlyList<Finding> findings)
    {
        if (findings.Count == 0)
        {
            return text.ToString();
        }

        var builder = new StringBuilder(text.Length);
        var read = 0;
        foreach (var f in findings)
        {
            builder.Append(text[read..f.Start]).Append(Placeholder(f.Kind));
            read = f.End;
        }

        return builder.Append(text[read..]).ToString();
    }
}

/// <summary>
/// Redacts a text that arrives in pieces (a streamed completion) without delaying it: each <see cref="Push"/>
/// returns at once everything that can no longer become part of a secret or personal-data match, and holds back
/// only the tail that could still begin one (e.g. <c>"key: lso_live_0000"</c> holds <c>"lso_live_0000"</c>; plain
/// prose holds at most its last word or number). <see cref="Flush"/> at the end of the stream releases the rest,
/// redacted. One instance per stream and choice; not thread-safe. Default detectors: <see cref="Detectors.StreamingDefault"/>.
/// </summary>
public sealed class StreamingRedactor
{
    private readonly IReadOnlyList<Detector> _detectors;
    private readonly List<Finding> _scratch = [];
    private string _pending = string.Empty;
    private bool _inUnterminatedKeyBlock;
    private Detector? _holder;

    public StreamingRedactor(IReadOnlyList<Detector>? detectors = null) => _detectors = detectors ?? Detectors.StreamingDefault;

    /// <summary>Chars currently held back.</summary>
    public int HeldChars => _pending.Length;

    /// <summary>Findings redacted so far, by kind.</summary>
    public IReadOnlyDictionary<DetectorKind, int> Redactions => _redactions;

    private readonly Dictionary<DetectorKind, int> _redactions = [];

    /// <summary>Adds a piece of text; returns what is safe to send now (possibly empty).</summary>
    public string Push(ReadOnlySpan<char> delta)
    {
        // Fast path: the detector holding the whole pending text still holds it with the delta appended (a long
        // JWT or key block arriving token by token): nothing can be emitted, so do not rescan.
        if (_holder is not null && _pending.Length > 0 && !_inUnterminatedKeyBlock && _holder.KeepsHolding(_pending, delta))
        {
            _pending = string.Concat(_pending, delta);
            return string.Empty;
        }

        _holder = null;
        var text = _pending.Length == 0 ? delta.ToString() : string.Concat(_pending, delta);
        if (_inUnterminatedKeyBlock)
        {
            // A private key block so long it was cut: swallow everything up to and including its footer.
            var footer = text.IndexOf("-----END ", StringComparison.Ordinal);
            var close = footer < 0 ? -1 : text.IndexOf("-----", footer + 9, StringComparison.Ordinal);
            if (close < 0)
            {
                _pending = text.Length > 64 ? text[^64..] : text;
                return string.Empty;
            }

            text = text[(close + 5)..];
            _inUnterminatedKeyBlock = false;
        }

        var hold = text.Length;
        Detector? holder = null;
        foreach (var d in _detectors)
        {
            var from = d.HoldFrom(text);
            if (from < hold)
            {
                hold = from;
                holder = d;
            }
        }

        _scratch.Clear();
        foreach (var d in _detectors)
        {
            d.Find(text, _scratch);
        }

        var findings = Detectors.Resolve(_scratch);

        // A finding that reaches into the held tail may still grow: hold it back whole.
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var f in findings)
            {
                if (f.Start < hold && f.End > hold)
                {
                    hold = f.Start;
                    holder = null;
                    changed = true;
                }
            }
        }

        var emitted = new List<Finding>(findings.Count);
        foreach (var f in findings)
        {
            if (f.End <= hold)
            {
                emitted.Add(f);
                Count(f.Kind);
                if (f.Kind == DetectorKind.PrivateKey && f.Length >= PrivateKeyDetector.MaxBlockLength
                    && !text.AsSpan(f.Start, f.Length).Contains("-----END ", StringComparison.Ordinal))
                {
                    _inUnterminatedKeyBlock = true;
                }
            }
        }

        _pending = text[hold..];
        _holder = holder;
        if (_inUnterminatedKeyBlock)
        {
            _pending = string.Empty;
            _holder = null;
        }

        return Redaction.Apply(text.AsSpan(0, hold), emitted);
    }

    /// <summary>At the end of the stream: everything still held, redacted (an unterminated key block to the end).</summary>
    public string Flush()
    {
        var text = _pending;
        _pending = string.Empty;
        _holder = null;
        if (_inUnterminatedKeyBlock || text.Length == 0)
        {
            return string.Empty;
        }

        _scratch.Clear();
        foreach (var d in _detectors)
        {
            if (d is PrivateKeyDetector keys)
            {
                keys.FindToEnd(text, _scratch);
            }
            else
            {
                d.Find(text, _scratch);
            }
        }

        var findings = Detectors.Resolve(_scratch);
        foreach (var f in findings)
        {
            Count(f.Kind);
        }

        return Redaction.Apply(text, findings);
    }

    private void Count(DetectorKind kind) => _redactions[kind] = _redactions.GetValueOrDefault(kind) + 1;
}

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
    private readonly Dictionary<DetectorKind, int> _redactions = [];
    private char[] _buffer = new char[256];
    private int _length;
    private bool _inUnterminatedKeyBlock;
    private Detector? _holder;

    public StreamingRedactor(IReadOnlyList<Detector>? detectors = null) => _detectors = detectors ?? Detectors.StreamingDefault;

    /// <summary>Chars currently held back.</summary>
    public int HeldChars => _length;

    /// <summary>Findings redacted so far, by kind.</summary>
    public IReadOnlyDictionary<DetectorKind, int> Redactions => _redactions;

    /// <summary>Adds a piece of text; returns what is safe to send now (possibly empty).</summary>
    public string Push(ReadOnlySpan<char> delta)
    {
        // Fast path: the detector holding the whole pending text still holds it with the delta appended (a long
        // JWT or key block arriving token by token): nothing can be emitted, so append without rescanning.
        var keeps = _holder is not null && _length > 0 && !_inUnterminatedKeyBlock && _holder.KeepsHolding(_buffer.AsSpan(0, _length), delta);
        Append(delta);
        if (keeps)
        {
            return string.Empty;
        }

        _holder = null;
        var start = 0;
        if (_inUnterminatedKeyBlock)
        {
            // A private key block so long it was cut: swallow everything up to and including its footer.
            var pending = _buffer.AsSpan(0, _length);
            var footer = pending.IndexOf("-----END ", StringComparison.Ordinal);
            var close = footer < 0 ? -1 : pending[(footer + 9)..].IndexOf("-----", StringComparison.Ordinal);
            if (close < 0)
            {
                Keep(Math.Max(0, _length - 64));
                return string.Empty;
            }

            start = footer + 9 + close + 5;
            _inUnterminatedKeyBlock = false;
        }

        var text = _buffer.AsSpan(start, _length - start);
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
                    && !text.Slice(f.Start, f.Length).Contains("-----END ", StringComparison.Ordinal))
                {
                    _inUnterminatedKeyBlock = true;
                }
            }
        }

        var output = Redaction.Apply(text[..hold], emitted);
        if (_inUnterminatedKeyBlock)
        {
            _length = 0;
        }
        else
        {
            Keep(start + hold);
            _holder = holder;
        }

        return output;
    }

    /// <summary>At the end of the stream: everything still held, redacted (an unterminated key block to the end).</summary>
    public string Flush()
    {
        var text = _buffer.AsSpan(0, _length);
        _length = 0;
        _holder = null;
        if (_inUnterminatedKeyBlock || text.IsEmpty)
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

    private void Append(ReadOnlySpan<char> delta)
    {
        if (_length + delta.Length > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + delta.Length));
        }

        delta.CopyTo(_buffer.AsSpan(_length));
        _length += delta.Length;
    }

    /// <summary>Keeps <c>_buffer[from.._length]</c> as the new pending text.</summary>
    private void Keep(int from)
    {
        _buffer.AsSpan(from, _length - from).CopyTo(_buffer);
        _length -= from;
    }

    private void Count(DetectorKind kind) => _redactions[kind] = _redactions.GetValueOrDefault(kind) + 1;
}

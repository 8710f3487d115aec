using System.Buffers.Text;
using System.Text.RegularExpressions;
using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.Inference.Guards;

/// <summary>What a detector finds. Secrets first, then personal data.</summary>
public enum DetectorKind
{
    /// <summary>An LlmSecOps API key (format and CRC checked with <see cref="ApiKey.TryParse"/>).</summary>
    LlmSecOpsKey,

    /// <summary>AWS access key id (<c>AKIA...</c>, <c>ASIA...</c>).</summary>
    AwsAccessKeyId,

    /// <summary>AWS secret access key next to its label (<c>aws_secret_access_key = ...</c>).</summary>
    AwsSecretAccessKey,

    /// <summary>GitHub tokens (<c>ghp_</c>, <c>gho_</c>, <c>ghu_</c>, <c>ghs_</c>, <c>ghr_</c>, <c>github_pat_</c>).</summary>
    GitHubToken,

    /// <summary>Slack tokens (<c>xoxb-</c>, <c>xoxp-</c>, <c>xoxa-</c>, <c>xoxr-</c>, <c>xoxs-</c>).</summary>
    SlackToken,

    /// <summary>A PEM/OpenSSH/PGP private key block.</summary>
    PrivateKey,

    /// <summary>A JSON Web Token whose header decodes to JSON.</summary>
    Jwt,

    /// <summary>A payment card number: 13-19 digits, a known network prefix, Luhn-valid.</summary>
    CreditCard,

    /// <summary>An email address.</summary>
    Email,

    /// <summary>An IBAN with a valid ISO 13616 mod-97 check.</summary>
    Iban,

    /// <summary>A phone number in international (+CC) or separated North American form.</summary>
    PhoneNumber,

    /// <summary>A US social security number (AAA-GG-SSSS, valid area/group/serial).</summary>
    UsSsn,
}

/// <summary>A match: kind and position in the scanned text.</summary>
/// <param name="Kind">Detector.</param>
/// <param name="Start">Char offset.</param>
/// <param name="Length">Char length.</param>
public readonly record struct Finding(DetectorKind Kind, int Start, int Length)
{
    /// <summary>One past the last char.</summary>
    public int End => Start + Length;
}

/// <summary>
/// A detector of one kind. <see cref="Find"/> reports complete matches; <see cref="HoldFrom"/> tells a streaming
/// redactor from which index the end of a text could still be the beginning of a match once more text arrives.
/// Regexes use <see cref="RegexOptions.NonBacktracking"/>: linear time whatever the input (no ReDoS, the class of
/// CVE-2019-0820 and many later regular-expression denials of service).
/// </summary>
public abstract class Detector
{
    protected Detector(DetectorKind kind) => Kind = kind;

    /// <summary>What this detector finds.</summary>
    public DetectorKind Kind { get; }

    /// <summary>Adds every complete match in <paramref name="text"/> to <paramref name="findings"/>.</summary>
    public abstract void Find(ReadOnlySpan<char> text, List<Finding> findings);

    /// <summary>
    /// The smallest index <c>i</c> such that <c>text[i..]</c> might begin a match that more text could complete (or
    /// extend); <c>text.Length</c> when nothing needs holding back.
    /// </summary>
    public abstract int HoldFrom(ReadOnlySpan<char> text);

    /// <summary>
    /// True when this detector holds all of <paramref name="held"/> and would still hold all of it with
    /// <paramref name="delta"/> appended, so a streaming redactor may append without rescanning (keeps long held
    /// runs — a JWT, a private key block — linear instead of quadratic in the number of pushes).
    /// </summary>
    internal virtual bool KeepsHolding(ReadOnlySpan<char> held, ReadOnlySpan<char> delta) => false;

    /// <summary>Start of the trailing run of chars in <paramref name="inRun"/>, at most <paramref name="maxLength"/> long.</summary>
    internal static int TrailingRunStart(ReadOnlySpan<char> text, Func<char, bool> inRun, int maxLength)
    {
        var i = text.Length;
        while (i > 0 && inRun(text[i - 1]) && text.Length - i < maxLength)
        {
            i--;
        }

        return i;
    }

    internal static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}

/// <summary>A detector made of a linear-time regex plus a validator of each candidate.</summary>
internal sealed class RegexDetector : Detector
{
    private readonly Regex _regex;
    private readonly Func<ReadOnlySpan<char>, int, int, bool>? _validate;
    private readonly HoldRule _hold;

    public RegexDetector(DetectorKind kind, string pattern, HoldRule hold,
        Func<ReadOnlySpan<char>, int, int, bool>? validate = null, RegexOptions extra = RegexOptions.None)
        : base(kind)
    {
        _regex = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | extra);
        _validate = validate;
        _hold = hold;
    }

    public override void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        foreach (var m in _regex.EnumerateMatches(text))
        {
            if (_validate is null || _validate(text, m.Index, m.Length))
            {
                findings.Add(new Finding(Kind, m.Index, m.Length));
            }
        }
    }

    public override int HoldFrom(ReadOnlySpan<char> text) => _hold.Compute(text);

    internal override bool KeepsHolding(ReadOnlySpan<char> held, ReadOnlySpan<char> delta) => _hold.Keeps(held, delta);
}

/// <summary>Computes a hold position.</summary>
internal delegate int HoldFunc(ReadOnlySpan<char> text);

/// <summary>Computes <see cref="Detector.HoldFrom"/> for a detector, and whether appending keeps a whole held run held.</summary>
internal sealed class HoldRule(HoldFunc compute, Func<char, bool>? runClass = null, int maxLength = 0, int settledLength = 0)
{
    public int Compute(ReadOnlySpan<char> text) => compute(text);

    public bool Keeps(ReadOnlySpan<char> held, ReadOnlySpan<char> delta)
    {
        if (runClass is null || held.Length < settledLength || held.Length + delta.Length >= maxLength)
        {
            return false;
        }

        foreach (var c in delta)
        {
            if (!runClass(c))
            {
                return false;
            }
        }

        return compute(held) == 0;
    }

    public static implicit operator HoldRule(HoldFunc compute) => new(compute);
}

/// <summary>Hold rules: hold the trailing run only when it could still begin this detector's match.</summary>
internal static class Hold
{
    /// <summary>
    /// For tokens with literal prefixes (<c>ghp_</c>, <c>AKIA</c>, <c>eyJ</c>): within the trailing run of token chars,
    /// hold from the first position (at a word boundary) whose tail is a prefix of, or starts with, one of the
    /// prefixes. Plain prose (<c>" Hello"</c>) is never held.
    /// </summary>
    public static HoldRule Prefixed(Func<char, bool> runClass, int maxLength, params string[] prefixes) =>
        new(PrefixedFunc(runClass, maxLength, prefixes), runClass, maxLength, prefixes.Max(p => p.Length));

    private static HoldFunc PrefixedFunc(Func<char, bool> runClass, int maxLength, string[] prefixes) => text =>
    {
        var start = Detector.TrailingRunStart(text, runClass, maxLength);
        for (var i = start; i < text.Length; i++)
        {
            if (i > start && Detector.IsWordChar(text[i - 1]))
            {
                continue;
            }

            var tail = text[i..];
            foreach (var prefix in prefixes)
            {
                if (tail.Length <= prefix.Length ? prefix.AsSpan().StartsWith(tail) : tail.StartsWith(prefix))
                {
                    return i;
                }
            }
        }

        return text.Length;
    };

    /// <summary>
    /// Hold the trailing run of <paramref name="runClass"/> chars from its first position, at a word boundary, whose
    /// char satisfies <paramref name="canStart"/> and whose tail passes <paramref name="tailCheck"/>.
    /// </summary>
    public static HoldRule Run(Func<char, bool> runClass, int maxLength, Func<char, bool> canStart, Func<ReadOnlySpan<char>, bool>? tailCheck = null) => new HoldFunc(text =>
    {
        var start = Detector.TrailingRunStart(text, runClass, maxLength);
        for (var i = start; i < text.Length; i++)
        {
            if (canStart(text[i]) && (i == 0 || !Detector.IsWordChar(text[i - 1])) && (tailCheck is null || tailCheck(text[i..])))
            {
                return i;
            }
        }

        return text.Length;
    });
}

/// <summary>Our own key format, found with a cheap <c>lso_</c> prefilter and confirmed by its CRC-32.</summary>
internal sealed class LlmSecOpsKeyDetector() : Detector(DetectorKind.LlmSecOpsKey)
{
    public override void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        var offset = 0;
        while (true)
        {
            var i = text[offset..].IndexOf(ApiKey.Prefix, StringComparison.Ordinal);
            if (i < 0)
            {
                return;
            }

            i += offset;
            offset = i + 1;
            if ((i > 0 && IsWordChar(text[i - 1])) || i + ApiKey.Length > text.Length)
            {
                continue;
            }

            var end = i + ApiKey.Length;
            if ((end < text.Length && IsWordChar(text[end])) || !ApiKey.TryParse(text.Slice(i, ApiKey.Length), out _))
            {
                continue;
            }

            findings.Add(new Finding(Kind, i, ApiKey.Length));
            offset = end;
        }
    }

    public override int HoldFrom(ReadOnlySpan<char> text) => s_hold.Compute(text);

    internal override bool KeepsHolding(ReadOnlySpan<char> held, ReadOnlySpan<char> delta) => s_hold.Keeps(held, delta);

    private static readonly HoldRule s_hold = Hold.Prefixed(IsWordChar, ApiKey.Length, "lso_live_", "lso_test_");
}

/// <summary>PEM (<c>-----BEGIN ... PRIVATE KEY-----</c>), OpenSSH and PGP private key blocks, header to footer.</summary>
internal sealed class PrivateKeyDetector() : Detector(DetectorKind.PrivateKey)
{
    private const string Begin = "-----BEGIN ";

    /// <summary>An unterminated block longer than this is treated as complete up to here (bounds hold-back).</summary>
    internal const int MaxBlockLength = 16 * 1024;

    public override void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        var offset = 0;
        while (TryFindHeader(text, offset, out var start, out var headerEnd))
        {
            var footer = text[headerEnd..].IndexOf("-----END ", StringComparison.Ordinal);
            if (footer < 0)
            {
                if (text.Length - start >= MaxBlockLength)
                {
                    findings.Add(new Finding(Kind, start, text.Length - start));
                }

                return;
            }

            var footerStart = headerEnd + footer;
            var close = text[(footerStart + 9)..].IndexOf("-----", StringComparison.Ordinal);
            var end = close < 0 ? text.Length : footerStart + 9 + close + 5;
            findings.Add(new Finding(Kind, start, end - start));
            offset = end;
        }
    }

    internal override bool KeepsHolding(ReadOnlySpan<char> held, ReadOnlySpan<char> delta) =>
        !delta.Contains('-') && held.Length + delta.Length < MaxBlockLength && HoldFrom(held) == 0
        && held.StartsWith(Begin) && held.Contains('\n');

    /// <summary>Like <see cref="Find"/>, but an unterminated block runs to the end (used at end of stream).</summary>
    internal void FindToEnd(ReadOnlySpan<char> text, List<Finding> findings)
    {
        var before = findings.Count;
        Find(text, findings);
        var offset = findings.Count > before ? findings[^1].End : 0;
        if (TryFindHeader(text, offset, out var start, out _))
        {
            findings.Add(new Finding(Kind, start, text.Length - start));
        }
    }

    public override int HoldFrom(ReadOnlySpan<char> text)
    {
        // An open block: hold from its header until the footer arrives (bounded by MaxBlockLength).
        var offset = 0;
        while (TryFindHeader(text, offset, out var start, out var headerEnd))
        {
            var footer = text[headerEnd..].IndexOf("-----END ", StringComparison.Ordinal);
            if (footer < 0)
            {
                return text.Length - start >= MaxBlockLength ? text.Length : start;
            }

            var close = text[(headerEnd + footer + 9)..].IndexOf("-----", StringComparison.Ordinal);
            if (close < 0)
            {
                return start;
            }

            offset = headerEnd + footer + 9 + close + 5;
        }

        // A header still arriving: the tail is "-", "-----BEG", "-----BEGIN RSA PRIV"...
        for (var i = Math.Max(0, text.Length - 64); i < text.Length; i++)
        {
            if (text[i] != '-')
            {
                continue;
            }

            var tail = text[i..];
            if (Begin.AsSpan().StartsWith(tail) || (tail.StartsWith(Begin) && !tail.Contains('\n') && tail.Length < 64))
            {
                return i;
            }
        }

        return text.Length;
    }

    private static bool TryFindHeader(ReadOnlySpan<char> text, int offset, out int start, out int headerEnd)
    {
        while (offset < text.Length)
        {
            var i = text[offset..].IndexOf(Begin, StringComparison.Ordinal);
            if (i < 0)
            {
                break;
            }

            start = offset + i;
            var lineEnd = text[(start + Begin.Length)..].IndexOf("-----", StringComparison.Ordinal);
            if (lineEnd > 0 && lineEnd < 48)
            {
                var label = text.Slice(start + Begin.Length, lineEnd);
                if (label.EndsWith("PRIVATE KEY", StringComparison.Ordinal) || label.EndsWith("PRIVATE KEY BLOCK", StringComparison.Ordinal))
                {
                    headerEnd = start + Begin.Length + lineEnd + 5;
                    return true;
                }
            }

            offset = start + 1;
        }

        start = -1;
        headerEnd = -1;
        return false;
    }
}

/// <summary>The standard detector set and the validators they use.</summary>
public static class Detectors
{
    /// <summary>Secret detectors, our key format first.</summary>
    public static IReadOnlyList<Detector> Secrets { get; } =
    [
        new LlmSecOpsKeyDetector(),
        new RegexDetector(DetectorKind.AwsAccessKeyId,
            @"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}\b",
            Hold.Prefixed(char.IsAsciiLetterOrDigit, 20, "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA")),
        new RegexDetector(DetectorKind.AwsSecretAccessKey,
            @"(?:aws_?secret_?access_?key|aws_?secret_?key|aws_?secret|secret_?access_?key)[""']?\s{0,4}[:=]{1,2}\s{0,4}[""']?[A-Za-z0-9/+]{40}",
            new HoldFunc(AwsSecretHold), ValidateAwsSecret, RegexOptions.IgnoreCase),
        new RegexDetector(DetectorKind.GitHubToken,
            @"\b(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
            Hold.Prefixed(Detector.IsWordChar, 93, "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
        new RegexDetector(DetectorKind.SlackToken,
            @"\bxox[abprs]-(?:[0-9]{6,}-){1,3}[0-9A-Za-z]{8,64}\b",
            Hold.Prefixed(c => char.IsAsciiLetterOrDigit(c) || c == '-', 200, "xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-")),
        new PrivateKeyDetector(),
        new RegexDetector(DetectorKind.Jwt,
            @"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
            Hold.Prefixed(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.', 8192, "eyJ"), ValidateJwt),
    ];

    /// <summary>Personal-data detectors.</summary>
    public static IReadOnlyList<Detector> Pii { get; } =
    [
        new RegexDetector(DetectorKind.CreditCard,
            @"\b[0-9](?:[ -]?[0-9]){12,18}\b",
            Hold.Run(c => char.IsAsciiDigit(c) || c is ' ' or '-', 23, char.IsAsciiDigit), ValidateCard),
        new RegexDetector(DetectorKind.Email,
            @"\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b",
            Hold.Run(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '%' or '+' or '-' or '@', 254, char.IsAsciiLetterOrDigit), ValidateEmail),
        new RegexDetector(DetectorKind.Iban,
            @"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b",
            Hold.Run(c => char.IsAsciiDigit(c) || char.IsAsciiLetterUpper(c) || c == ' ', 42, char.IsAsciiLetterUpper, CouldBeginIban), ValidateIban),
        new RegexDetector(DetectorKind.PhoneNumber,
            @"(?:\+[1-9][0-9]{0,2}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}|(?:\([2-9][0-9]{2}\) ?|\b[2-9][0-9]{2}[.-])[2-9][0-9]{2}[ .-][0-9]{4})\b",
            Hold.Run(c => char.IsAsciiDigit(c) || c is ' ' or '(' or ')' or '+' or '.' or '-', 25, c => char.IsAsciiDigit(c) || c is '+' or '('), ValidatePhone),
        new RegexDetector(DetectorKind.UsSsn,
            @"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
            Hold.Run(c => char.IsAsciiDigit(c) || c == '-', 11, char.IsAsciiDigit), ValidateSsn),
    ];

    /// <summary>
    /// The default set for streamed output redaction: every secret detector and the personal-data detectors whose
    /// hold-back is limited to digits and capitalised codes. Email is left out by default: any word could be the start
    /// of an address, so redacting emails in a stream holds back the last word of every chunk (one token of delay);
    /// add it per tenant where that is wanted.
    /// </summary>
    public static IReadOnlyList<Detector> StreamingDefault { get; } =
        [.. Secrets, .. Pii.Where(d => d.Kind != DetectorKind.Email)];

    private static bool CouldBeginIban(ReadOnlySpan<char> tail)
    {
        for (var i = 0; i < tail.Length && i < 4; i++)
        {
            var ok = i < 2 ? char.IsAsciiLetterUpper(tail[i]) : char.IsAsciiDigit(tail[i]);
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static readonly string[] s_awsLabels = ["aws_secret_access_key", "aws_secret_key", "aws_secret", "secret_access_key", "awssecretaccesskey", "secretaccesskey", "awssecretkey", "awssecret"];

    /// <summary>Hold from an AWS secret label that is still waiting for its value (or is itself still arriving).</summary>
    private static int AwsSecretHold(ReadOnlySpan<char> text)
    {
        var windowStart = Math.Max(0, text.Length - 120);
        var window = text[windowStart..];
        var lineStart = window.LastIndexOf('\n') + 1;
        Span<char> lower = stackalloc char[window.Length - lineStart];
        window[lineStart..].ToLowerInvariant(lower);
        for (var i = 0; i < lower.Length; i++)
        {
            if (i > 0 && Detector.IsWordChar(lower[i - 1]) && lower[i - 1] != '_')
            {
                continue;
            }

            var tail = lower[i..];
            foreach (var label in s_awsLabels)
            {
                if (tail.Length <= label.Length ? label.AsSpan().StartsWith(tail) : tail.StartsWith(label))
                {
                    // Complete label followed by its full value: Find reports it; nothing to hold.
                    return windowStart + lineStart + i;
                }
            }
        }

        return text.Length;
    }

    /// <summary>Everything, secrets first.</summary>
    public static IReadOnlyList<Detector> All { get; } = [.. Secrets, .. Pii];

    /// <summary>The detector of a kind.</summary>
    public static Detector Get(DetectorKind kind) => All.First(d => d.Kind == kind);

    /// <summary>Runs <paramref name="detectors"/> and returns non-overlapping findings in text order (earlier and longer win).</summary>
    public static List<Finding> FindAll(ReadOnlySpan<char> text, IReadOnlyList<Detector> detectors)
    {
        var raw = new List<Finding>();
        foreach (var d in detectors)
        {
            d.Find(text, raw);
        }

        return Resolve(raw);
    }

    internal static List<Finding> Resolve(List<Finding> raw)
    {
        raw.Sort(static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.Length.CompareTo(a.Length));
        var result = new List<Finding>(raw.Count);
        var end = 0;
        foreach (var f in raw)
        {
            if (f.Start >= end)
            {
                result.Add(f);
                end = f.End;
            }
            else if (f.End > end && result.Count > 0)
            {
                // Overlap: widen the earlier finding so nothing of either leaks.
                var last = result[^1];
                result[^1] = last with { Length = f.End - last.Start };
                end = f.End;
            }
        }

        return result;
    }

    /// <summary>Luhn (ISO/IEC 7812-1 Annex B) over <paramref name="digits"/> (ASCII digits only).</summary>
    public static bool Luhn(ReadOnlySpan<char> digits)
    {
        var sum = 0;
        var doubleIt = false;
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            var d = digits[i] - '0';
            if (doubleIt)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
            doubleIt = !doubleIt;
        }

        return sum % 10 == 0;
    }

    /// <summary>ISO 13616 IBAN check: move the first four chars to the end, letters to 10..35, mod 97 == 1.</summary>
    public static bool IbanMod97(ReadOnlySpan<char> iban)
    {
        var remainder = 0;
        for (var k = 0; k < iban.Length; k++)
        {
            var c = iban[(k + 4) % iban.Length];
            if (char.IsAsciiDigit(c))
            {
                remainder = ((remainder * 10) + (c - '0')) % 97;
            }
            else if (char.IsAsciiLetterUpper(c))
            {
                remainder = ((remainder * 100) + (c - 'A' + 10)) % 97;
            }
            else
            {
                return false;
            }
        }

        return remainder == 1;
    }

    private static int Digits(ReadOnlySpan<char> text, Span<char> digits)
    {
        var n = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiDigit(c))
            {
                if (n == digits.Length)
                {
                    return -1;
                }

                digits[n++] = c;
            }
        }

        return n;
    }

    private static bool ValidateCard(ReadOnlySpan<char> text, int start, int length)
    {
        var match = text.Slice(start, length);
        Span<char> digits = stackalloc char[19];
        var n = Digits(match, digits);
        if (n is < 13 or > 19)
        {
            return false;
        }

        // Separators, if any, must be one kind (4111-1111 1111-1111 is not how cards are written).
        if (match.Contains(' ') && match.Contains('-'))
        {
            return false;
        }

        // Not part of a longer dotted/decimal number (1234567890123.45, 10.4111111111111111).
        if ((start > 0 && text[start - 1] is '.' or ',') || (start + length < text.Length - 1 && text[start + length] is '.' or ',' && char.IsAsciiDigit(text[start + length + 1])))
        {
            return false;
        }

        var d = digits[..n];
        var knownNetwork = d[0] switch
        {
            '4' => n is 13 or 16 or 19,                                          // Visa
            '5' => d[1] is >= '1' and <= '5' && n == 16,                         // Mastercard 51-55
            '2' => int.Parse(d[..4]) is >= 2221 and <= 2720 && n == 16,           // Mastercard 2-series
            '3' => (d[1] is '4' or '7' && n == 15) || (d[1] == '5' && n >= 16) || (d[1] is '0' or '6' or '8' && n >= 14), // Amex, JCB, Diners
            '6' => n >= 16,                                                       // Discover, UnionPay, Maestro
            _ => false,
        };
        return knownNetwork && Luhn(d);
    }

    private static bool ValidateEmail(ReadOnlySpan<char> text, int start, int length)
    {
        var match = text.Slice(start, length);
        var at = match.IndexOf('@');
        var local = match[..at];
        if (local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal))
        {
            return false;
        }

        // "user@host.name" preceded by "//" or ':' is a URL's userinfo more often than an address, but it is still
        // an address-shaped identifier: keep it.
        return !match[(at + 1)..].Contains("..", StringComparison.Ordinal);
    }

    private static readonly Dictionary<string, int> s_ibanLengths = new(StringComparer.Ordinal)
    {
        ["AD"] = 24, ["AT"] = 20, ["BE"] = 16, ["BG"] = 22, ["CH"] = 21, ["CY"] = 28, ["CZ"] = 24, ["DE"] = 22,
        ["DK"] = 18, ["EE"] = 20, ["ES"] = 24, ["FI"] = 18, ["FR"] = 27, ["GB"] = 22, ["GR"] = 27, ["HR"] = 21,
        ["HU"] = 28, ["IE"] = 22, ["IS"] = 26, ["IT"] = 27, ["LI"] = 21, ["LT"] = 20, ["LU"] = 20, ["LV"] = 21,
        ["MC"] = 27, ["MT"] = 31, ["NL"] = 18, ["NO"] = 15, ["PL"] = 28, ["PT"] = 25, ["RO"] = 24, ["SE"] = 24,
        ["SI"] = 19, ["SK"] = 24, ["SM"] = 27, ["TR"] = 26, ["SA"] = 24, ["AE"] = 23, ["IL"] = 23, ["BR"] = 29,
    };

    private static bool ValidateIban(ReadOnlySpan<char> text, int start, int length)
    {
        Span<char> compact = stackalloc char[34];
        var n = 0;
        foreach (var c in text.Slice(start, length))
        {
            if (c == ' ')
            {
                continue;
            }

            if (n == compact.Length)
            {
                return false;
            }

            compact[n++] = c;
        }

        if (n < 15)
        {
            return false;
        }

        var iban = compact[..n];
        var lookup = s_ibanLengths.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(iban[..2], out var expected) && expected != n)
        {
            return false;
        }

        return IbanMod97(iban);
    }

    private static bool ValidatePhone(ReadOnlySpan<char> text, int start, int length)
    {
        Span<char> digits = stackalloc char[32];
        var n = Digits(text.Slice(start, length), digits);
        if (n is < 8 or > 15)
        {
            return false;
        }

        // Not glued to a preceding digit or letter (e.g. "x+1 ..." in maths, "v2.555-1234").
        return start == 0 || !char.IsAsciiLetterOrDigit(text[start - 1]);
    }

    private static bool ValidateSsn(ReadOnlySpan<char> text, int start, int length)
    {
        var s = text.Slice(start, length);
        var area = int.Parse(s[..3]);
        var group = int.Parse(s.Slice(4, 2));
        var serial = int.Parse(s.Slice(7, 4));

        // SSA: area 000, 666 and 900-999 are never issued; group 00 and serial 0000 neither.
        if (area is 0 or 666 or >= 900 || group == 0 || serial == 0)
        {
            return false;
        }

        // A date or a range (2021-03-1234) glued to more digits is not an SSN.
        return (start == 0 || text[start - 1] is not ('-' or '/' or '.')) && (start + length == text.Length || text[start + length] is not ('-' or '/'));
    }

    private static bool ValidateAwsSecret(ReadOnlySpan<char> text, int start, int length)
    {
        var end = start + length;
        return end == text.Length || !(char.IsAsciiLetterOrDigit(text[end]) || text[end] is '/' or '+');
    }

    private static bool ValidateJwt(ReadOnlySpan<char> text, int start, int length)
    {
        var token = text.Slice(start, length);
        var dot = token.IndexOf('.');
        var header = token[..dot];
        Span<byte> utf8 = stackalloc byte[Math.Min(header.Length, 1024)];
        if (header.Length > utf8.Length)
        {
            return false;
        }

        for (var i = 0; i < header.Length; i++)
        {
            utf8[i] = (byte)header[i];
        }

        Span<byte> decoded = stackalloc byte[utf8.Length];
        if (Base64Url.DecodeFromUtf8(utf8, decoded, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        var json = decoded[..written];
        return json.Length > 2 && json[0] == (byte)'{' && json.TrimEnd((byte)' ')[^1] == (byte)'}'
            && (json.IndexOf("\"alg\""u8) >= 0 || json.IndexOf("\"typ\""u8) >= 0);
    }
}

namespace LlmSecOps.Geo.Lookup;

/// <summary>
/// ISO 3166-1 alpha-2 codes packed in two bytes (<c>(c1 &lt;&lt; 8) | c2</c>, 0 = unknown), and the mapping from the
/// codes range databases and edge proxies use to ISO: <c>UK</c> -> <c>GB</c>; <c>??</c>, <c>EU</c>, <c>AP</c>
/// (continents), <c>AN</c> (dissolved Netherlands Antilles), <c>CS</c> (dissolved Serbia and Montenegro), and
/// the pseudo-codes <c>A1</c>/<c>A2</c>/<c>O1</c> (MaxMind), <c>XX</c>/<c>T1</c> (Cloudflare: unknown/Tor) and
/// <c>ZZ</c> -> unknown.
/// </summary>
public static class CountryCodes
{
    private static readonly string[] s_strings = BuildStrings();

    /// <summary>Packs and normalises a code; 0 when it is unknown or not two ASCII letters.</summary>
    public static ushort Pack(ReadOnlySpan<char> code)
    {
        if (code.Length != 2)
        {
            return 0;
        }

        var a = char.ToUpperInvariant(code[0]);
        var b = char.ToUpperInvariant(code[1]);
        if (a is < 'A' or > 'Z' || b is < 'A' or > 'Z')
        {
            return 0;
        }

        switch ((a, b))
        {
            case ('U', 'K'):
                return Pack('G', 'B');
            case ('E', 'U'):
            case ('A', 'P'):
            case ('A', 'N'):
            case ('C', 'S'):
            case ('X', 'X'):
            case ('Z', 'Z'):
                return 0;
        }

        return Pack(a, b);
    }

    /// <summary>The ISO code for a packed value ("" for 0). Never allocates.</summary>
    public static string ToCode(ushort packed)
    {
        if (packed == 0)
        {
            return string.Empty;
        }

        var a = (packed >> 8) - 'A';
        var b = (packed & 0xFF) - 'A';
        return (uint)a < 26 && (uint)b < 26 ? s_strings[(a * 26) + b] : string.Empty;
    }

    /// <summary>Normalises a two-letter code to ISO 3166-1 alpha-2, "" when unknown.</summary>
    public static string Normalize(ReadOnlySpan<char> code) => ToCode(Pack(code));

    private static ushort Pack(char a, char b) => (ushort)((a << 8) | b);

    private static string[] BuildStrings()
    {
        var strings = new string[26 * 26];
        for (var a = 0; a < 26; a++)
        {
            for (var b = 0; b < 26; b++)
            {
                strings[(a * 26) + b] = string.Concat((char)('A' + a), (char)('A' + b));
            }
        }

        return strings;
    }
}

using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Text;

namespace LlmSecOps.Geo.Lookup;

/// <summary>
/// IP address -> ISO 3166-1 alpha-2 country, from the IPFire Location database export Tor ships (Debian package
/// <c>tor-geoipdb</c>: <c>/usr/share/tor/geoip</c> lines <c>low,high,CC</c> with IPv4 as decimal integers,
/// <c>/usr/share/tor/geoip6</c> with textual IPv6). Held as two sorted arrays per family — range starts
/// (<see cref="uint"/> / <see cref="UInt128"/>) and 2-byte packed codes — where gaps between ranges are explicit
/// entries with code 0 and adjacent ranges with the same country are merged. A look-up is one binary search:
/// O(log n), no allocation. Immutable once loaded; safe to share between threads.
/// </summary>
public sealed class GeoIpDatabase
{
    /// <summary>Where Debian's tor-geoipdb puts the IPv4 file.</summary>
    public const string DefaultIpv4Path = "/usr/share/tor/geoip";

    /// <summary>Where Debian's tor-geoipdb puts the IPv6 file.</summary>
    public const string DefaultIpv6Path = "/usr/share/tor/geoip6";

    private readonly uint[] _v4Starts;
    private readonly ushort[] _v4Codes;
    private readonly UInt128[] _v6Starts;
    private readonly ushort[] _v6Codes;

    private GeoIpDatabase(uint[] v4Starts, ushort[] v4Codes, UInt128[] v6Starts, ushort[] v6Codes, int v4Lines, int v6Lines)
    {
        _v4Starts = v4Starts;
        _v4Codes = v4Codes;
        _v6Starts = v6Starts;
        _v6Codes = v6Codes;
        Ipv4SourceRanges = v4Lines;
        Ipv6SourceRanges = v6Lines;
    }

    /// <summary>A database that knows no address (every look-up is unknown).</summary>
    public static GeoIpDatabase Empty { get; } = new([0], [0], [UInt128.Zero], [0], 0, 0);

    /// <summary>Ranges read from the IPv4 source.</summary>
    public int Ipv4SourceRanges { get; }

    /// <summary>Ranges read from the IPv6 source.</summary>
    public int Ipv6SourceRanges { get; }

    /// <summary>Entries held for IPv4 after gap filling and merging.</summary>
    public int Ipv4Entries => _v4Starts.Length;

    /// <summary>Entries held for IPv6 after gap filling and merging.</summary>
    public int Ipv6Entries => _v6Starts.Length;

    /// <summary>Bytes held by the look-up arrays (the whole payload of this object).</summary>
    public long PayloadBytes => (_v4Starts.Length * 4L) + (_v4Codes.Length * 2L) + (_v6Starts.Length * 16L) + (_v6Codes.Length * 2L);

    /// <summary>Loads Debian's files from their default paths.</summary>
    public static GeoIpDatabase LoadDefault() => Load(DefaultIpv4Path, DefaultIpv6Path);

    /// <summary>Loads the IPv4 file and, when given, the IPv6 file. Throws <see cref="InvalidDataException"/> naming the line on malformed input.</summary>
    public static GeoIpDatabase Load(string ipv4Path, string? ipv6Path) =>
        Load(File.ReadAllBytes(ipv4Path), ipv6Path is null ? null : File.ReadAllBytes(ipv6Path), ipv4Path, ipv6Path);

    /// <summary>Loads from readers (tests use synthetic files).</summary>
    public static GeoIpDatabase Load(TextReader ipv4, TextReader? ipv6, string ipv4Name = "geoip", string? ipv6Name = "geoip6") =>
        Load(Encoding.UTF8.GetBytes(ipv4.ReadToEnd()), ipv6 is null ? null : Encoding.UTF8.GetBytes(ipv6.ReadToEnd()), ipv4Name, ipv6Name);

    private static GeoIpDatabase Load(byte[] ipv4, byte[]? ipv6, string ipv4Name, string? ipv6Name)
    {
        var v4 = ReadRanges(ipv4, ipv4Name, static (ReadOnlySpan<byte> s, out uint v) => Utf8Parser.TryParse(s, out v, out var n) && n == s.Length);
        var (v4Starts, v4Codes) = Build(v4, uint.MaxValue);

        List<(UInt128 Low, UInt128 High, ushort Code)> v6 = ipv6 is null ? [] : ReadRanges<UInt128>(ipv6, ipv6Name ?? "geoip6", TryParseIpv6);
        var (v6Starts, v6Codes) = Build(v6, UInt128.MaxValue);
        return new GeoIpDatabase(v4Starts, v4Codes, v6Starts, v6Codes, v4.Count, v6.Count);
    }

    /// <summary>The country of <paramref name="address"/>, "" when unknown. IPv4-mapped IPv6 (<c>::ffff:a.b.c.d</c>) is looked up as IPv4.</summary>
    public string Lookup(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            return string.Empty;
        }

        if (written == 4)
        {
            return Lookup(BinaryPrimitives.ReadUInt32BigEndian(bytes));
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && IsIpv4Mapped(bytes))
        {
            return Lookup(BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]));
        }

        return Lookup(BinaryPrimitives.ReadUInt128BigEndian(bytes));
    }

    /// <summary>The country of an IPv4 address given as a host-order integer.</summary>
    public string Lookup(uint ipv4) => CountryCodes.ToCode(_v4Codes[Find(_v4Starts, ipv4)]);

    /// <summary>The country of an IPv6 address given as a host-order integer.</summary>
    public string Lookup(UInt128 ipv6) => CountryCodes.ToCode(_v6Codes[Find(_v6Starts, ipv6)]);

    private static bool IsIpv4Mapped(ReadOnlySpan<byte> b) =>
        b[..10].IndexOfAnyExcept((byte)0) < 0 && b[10] == 0xFF && b[11] == 0xFF;

    /// <summary>Index of the last start &lt;= value (the first entry always starts at 0).</summary>
    private static int Find<T>(T[] starts, T value)
        where T : IComparable<T>
    {
        var lo = 0;
        var hi = starts.Length - 1;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo + 1) >> 1);
            if (starts[mid].CompareTo(value) <= 0)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    private delegate bool TryParseValue<T>(ReadOnlySpan<byte> text, out T value);

    private static bool TryParseIpv6(ReadOnlySpan<byte> text, out UInt128 value)
    {
        value = default;
        Span<char> chars = stackalloc char[64];
        if (text.Length > chars.Length)
        {
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            chars[i] = (char)text[i];
        }

        if (!IPAddress.TryParse(chars[..text.Length], out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        ip.TryWriteBytes(bytes, out _);
        value = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        return true;
    }

    private static List<(T Low, T High, ushort Code)> ReadRanges<T>(ReadOnlySpan<byte> text, string name, TryParseValue<T> parse)
        where T : IComparable<T>
    {
        var ranges = new List<(T, T, ushort)>(1 << 16);
        var lineNumber = 0;
        Span<char> code = stackalloc char[2];
        while (!text.IsEmpty)
        {
            lineNumber++;
            var newline = text.IndexOf((byte)'\n');
            var line = (newline < 0 ? text : text[..newline]).Trim(" \t\r"u8);
            text = newline < 0 ? default : text[(newline + 1)..];
            if (line.IsEmpty || line[0] == (byte)'#')
            {
                continue;
            }

            var first = line.IndexOf((byte)',');
            var last = line.LastIndexOf((byte)',');
            if (first <= 0 || last <= first
                || !parse(line[..first].Trim((byte)' '), out var low)
                || !parse(line[(first + 1)..last].Trim((byte)' '), out var high)
                || high.CompareTo(low) < 0)
            {
                throw new InvalidDataException($"{name}:{lineNumber}: expected 'low,high,CC' with low <= high.");
            }

            var cc = line[(last + 1)..].Trim((byte)' ');
            ushort packed = 0;
            if (cc.Length == 2)
            {
                code[0] = (char)cc[0];
                code[1] = (char)cc[1];
                packed = CountryCodes.Pack(code);
            }

            ranges.Add((low, high, packed));
        }

        return ranges;
    }

    /// <summary>Sorts, clips overlaps (first range wins), fills gaps with unknown and merges equal neighbours.</summary>
    private static (T[] Starts, ushort[] Codes) Build<T>(List<(T Low, T High, ushort Code)> ranges, T max)
        where T : IBinaryInteger<T>
    {
        ranges.Sort(static (a, b) => a.Low.CompareTo(b.Low));
        var starts = new List<T>(ranges.Count + 16);
        var codes = new List<ushort>(ranges.Count + 16);

        void Add(T start, ushort code)
        {
            if (codes.Count > 0 && codes[^1] == code)
            {
                return;
            }

            if (starts.Count > 0 && starts[^1] == start)
            {
                codes[^1] = code;
                return;
            }

            starts.Add(start);
            codes.Add(code);
        }

        Add(T.Zero, 0);
        var next = T.Zero; // first address not yet covered
        var done = false;
        foreach (var (low, high, code) in ranges)
        {
            if (done || high < next)
            {
                continue;
            }

            var start = low < next ? next : low;
            if (start > next)
            {
                Add(next, 0);
            }

            Add(start, code);
            if (high == max)
            {
                done = true;
            }
            else
            {
                next = high + T.One;
            }
        }

        if (!done)
        {
            Add(next, 0);
        }

        return (starts.ToArray(), codes.ToArray());
    }
}

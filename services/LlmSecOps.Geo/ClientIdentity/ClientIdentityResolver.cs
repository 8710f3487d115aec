using System.Net;
using System.Net.Sockets;
using LlmSecOps.Geo.Lookup;

namespace LlmSecOps.Geo.ClientIdentity;

/// <summary>Where the country came from.</summary>
public enum CountrySource
{
    /// <summary>Unknown.</summary>
    None,

    /// <summary>The trusted edge header (e.g. CF-IPCountry).</summary>
    EdgeHeader,

    /// <summary>The IP range database.</summary>
    Database,
}

/// <summary>Who the client is, as far as the gateway can tell (a struct: resolved on every request, never allocated).</summary>
/// <param name="ClientIp">The client address (IPv4-mapped IPv6 unmapped to IPv4).</param>
/// <param name="Country">ISO 3166-1 alpha-2, "" when unknown.</param>
/// <param name="CountrySource">Where <paramref name="Country"/> came from.</param>
/// <param name="ViaTrustedProxy">True when the TCP peer was a trusted proxy.</param>
public readonly record struct ClientIdentity(IPAddress ClientIp, string Country, CountrySource CountrySource, bool ViaTrustedProxy);

/// <summary>
/// Resolves the client address and country. X-Forwarded-For is a list anyone can write into: a client sends
/// <c>X-Forwarded-For: 1.2.3.4</c> and every proxy APPENDS the address it saw. Only entries added by proxies we
/// trust are believable, so the list is walked RIGHT to LEFT starting from the TCP peer: while the current hop is
/// a trusted proxy, step to the entry it appended; the first hop that is not a trusted proxy is the client
/// (RFC 7239 §8.1 on spoofed forwarding headers; taking the LEFTMOST entry is the classic spoofing bug).
/// An unparseable entry stops the walk (the client is then the last trusted proxy that vouched for it).
/// </summary>
public sealed class ClientIdentityResolver
{
    private readonly IPNetwork[] _trusted;
    private readonly int _maxEntries;
    private readonly GeoIpDatabase _database;

    public ClientIdentityResolver(TrustedProxyOptions options, GeoIpDatabase database)
    {
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(options));
        }

        _trusted = options.TrustedNetworks.Select(n => IPNetwork.Parse(n)).ToArray();
        _maxEntries = options.MaxForwardedEntries;
        _database = database;
        CountryHeader = options.CountryHeader;
    }

    /// <summary>The edge country header name, if one is configured.</summary>
    public string? CountryHeader { get; }

    /// <summary>
    /// Resolves the client. <paramref name="forwardedFor"/> holds every X-Forwarded-For header value in arrival
    /// order (several headers are one list, RFC 9110 §5.3); <paramref name="edgeCountry"/> the edge header's value.
    /// </summary>
    public ClientIdentity Resolve(IPAddress peer, IReadOnlyList<string?>? forwardedFor, string? edgeCountry)
    {
        var current = Unmap(peer);
        var viaTrusted = IsTrusted(current);
        if (viaTrusted && forwardedFor is { Count: > 0 })
        {
            current = Walk(current, forwardedFor);
        }

        if (viaTrusted && edgeCountry is not null)
        {
            var code = CountryCodes.Normalize(edgeCountry.AsSpan().Trim());
            if (code.Length == 2)
            {
                return new ClientIdentity(current, code, CountrySource.EdgeHeader, viaTrusted);
            }
        }

        var country = _database.Lookup(current);
        return new ClientIdentity(current, country, country.Length == 0 ? CountrySource.None : CountrySource.Database, viaTrusted);
    }

    /// <summary>True when <paramref name="address"/> is in a trusted network.</summary>
    public bool IsTrusted(IPAddress address)
    {
        address = Unmap(address);
        foreach (var network in _trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private IPAddress Walk(IPAddress current, IReadOnlyList<string?> headers)
    {
        var walked = 0;
        for (var h = headers.Count - 1; h >= 0; h--)
        {
            var rest = (headers[h] ?? string.Empty).AsSpan();
            while (true)
            {
                var comma = rest.LastIndexOf(',');
                var entry = rest[(comma + 1)..].Trim();
                rest = comma < 0 ? default : rest[..comma];
                if (!entry.IsEmpty)
                {
                    if (!IsTrusted(current) || ++walked > _maxEntries || !TryParseEntry(entry, out var hop))
                    {
                        return current;
                    }

                    current = hop;
                }

                if (comma < 0)
                {
                    break;
                }
            }
        }

        return current;
    }

    /// <summary>Parses <c>1.2.3.4</c>, <c>1.2.3.4:5678</c>, <c>2001:db8::1</c> and <c>[2001:db8::1]:443</c>.</summary>
    internal static bool TryParseEntry(ReadOnlySpan<char> entry, out IPAddress address)
    {
        address = IPAddress.None;
        if (entry.Length > 64)
        {
            return false;
        }

        if (entry.StartsWith('['))
        {
            var close = entry.IndexOf(']');
            if (close < 0)
            {
                return false;
            }

            entry = entry[1..close];
        }
        else if (entry.Count(':') == 1)
        {
            entry = entry[..entry.IndexOf(':')];
        }

        // Zone ids and other oddities (fe80::1%eth0) are not client addresses.
        if (entry.Contains('%') || !IPAddress.TryParse(entry, out var parsed))
        {
            return false;
        }

        address = Unmap(parsed);
        return true;
    }

    private static IPAddress Unmap(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 && address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

using LlmSecOps.Geo.ClientIdentity;
using LlmSecOps.Geo.Lookup;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// How the data plane decides who the client is (section <c>ClientIdentity</c>): the event's and the record's
/// <c>client_ip</c> and <c>country</c>. Fails closed: with no trusted proxies (the default) X-Forwarded-For and the
/// edge country header are ignored and the client is the TCP peer.
/// </summary>
public sealed class ClientIdentityOptions
{
    /// <summary>
    /// CIDR ranges of the reverse proxies in front of the gateway (e.g. <c>10.0.0.0/8</c>, <c>fd00::/8</c>); only a
    /// peer in one of them may say who the client is through X-Forwarded-For or <see cref="TrustedCountryHeader"/>.
    /// <c>0.0.0.0/0</c>, <c>::/0</c> and ranges with host bits set are refused. Default: none.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>
    /// Header carrying the client's country as resolved by a trusted edge, honoured only when the TCP peer is a
    /// trusted proxy; empty to ignore every edge header. Default <c>CF-IPCountry</c> (Cloudflare).
    /// </summary>
    public string TrustedCountryHeader { get; set; } = "CF-IPCountry";

    /// <summary>
    /// IPv4 range file (<c>low,high,CC</c>, IPv4 as decimal integers). Default <c>/usr/share/tor/geoip</c> (Debian package
    /// <c>tor-geoipdb</c>). A missing file logs a warning and leaves <c>country</c> empty; a malformed one stops start-up.
    /// </summary>
    public string GeoDatabasePath { get; set; } = GeoIpDatabase.DefaultIpv4Path;

    /// <summary>IPv6 range file, or empty for IPv4 only. Default <c>/usr/share/tor/geoip6</c>; missing: a warning.</summary>
    public string GeoDatabaseIpv6Path { get; set; } = GeoIpDatabase.DefaultIpv6Path;

    /// <summary>Most X-Forwarded-For entries walked from the right (bounds the work on hostile headers). Default 8.</summary>
    public int MaxForwardedEntries { get; set; } = 8;

    /// <summary>The Geo library's view of these settings.</summary>
    internal TrustedProxyOptions ToTrustedProxyOptions() => new()
    {
        TrustedNetworks = TrustedProxies,
        MaxForwardedEntries = MaxForwardedEntries,
        CountryHeader = TrustedCountryHeader.Length > 0 ? TrustedCountryHeader : null,
    };
}

/// <summary>Reports every invalid <see cref="ClientIdentityOptions"/> setting at once.</summary>
internal sealed class ClientIdentityOptionsValidator : IValidateOptions<ClientIdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, ClientIdentityOptions options)
    {
        // The Geo library checks the CIDR ranges (no 0.0.0.0/0, no host bits) and the walk bound; its messages name its
        // own setting names, so they are renamed to this section's.
        var errors = options.ToTrustedProxyOptions().Validate()
            .Select(e => e
                .Replace("TrustedNetworks entry", "ClientIdentity:TrustedProxies entry", StringComparison.Ordinal)
                .Replace("MaxForwardedEntries", "ClientIdentity:MaxForwardedEntries", StringComparison.Ordinal))
            .ToList();

        if (options.TrustedCountryHeader.Length > 0 && !IsToken(options.TrustedCountryHeader))
        {
            errors.Add($"ClientIdentity:TrustedCountryHeader '{options.TrustedCountryHeader}' is not a header name (RFC 9110 §5.1 token); use e.g. CF-IPCountry, or empty to ignore edge headers.");
        }

        if (string.IsNullOrWhiteSpace(options.GeoDatabasePath))
        {
            errors.Add("ClientIdentity:GeoDatabasePath is empty: point it at an IPv4 range file such as /usr/share/tor/geoip (apt-get install -y tor-geoipdb).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    // RFC 9110 §5.6.2: token = 1*tchar.
    private static bool IsToken(string value) =>
        value.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
            or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~');
}

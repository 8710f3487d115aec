using System.Net;

namespace LlmSecOps.Geo.ClientIdentity;

/// <summary>
/// Which peers may tell the gateway who the client is. Bind from configuration and call <see cref="Validate"/>.
/// With no trusted proxies (the default) X-Forwarded-For and the edge country header are ignored entirely: the
/// client is the TCP peer. Fail closed: an empty list never means "trust everyone".
/// </summary>
public sealed class TrustedProxyOptions
{
    /// <summary>CIDR ranges of proxies whose X-Forwarded-For entries are believed (e.g. <c>10.0.0.0/8</c>, <c>::1/128</c>). Default: none.</summary>
    public List<string> TrustedNetworks { get; set; } = [];

    /// <summary>Most X-Forwarded-For entries walked from the right. Default 8 (bounds work on hostile headers).</summary>
    public int MaxForwardedEntries { get; set; } = 8;

    /// <summary>
    /// Header carrying the country as resolved by a trusted edge (e.g. <c>CF-IPCountry</c>), honoured only when the
    /// request came through a trusted proxy. Default: none (the range database decides).
    /// </summary>
    public string? CountryHeader { get; set; }

    /// <summary>Every problem at once, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var network in TrustedNetworks)
        {
            var slash = network.IndexOf('/', StringComparison.Ordinal);
            if (!IPNetwork.TryParse(network, out var parsed) || slash < 0
                || !IPAddress.TryParse(network.AsSpan(0, slash), out var address) || !address.Equals(parsed.BaseAddress))
            {
                errors.Add($"TrustedNetworks entry '{network}' is not a CIDR range such as 10.0.0.0/8 or fd00::/8 (host bits must be zero).");
            }
            else if (parsed.PrefixLength == 0)
            {
                errors.Add($"TrustedNetworks entry '{network}' trusts every address; anyone could then forge X-Forwarded-For. List your proxies' ranges.");
            }
        }

        if (MaxForwardedEntries is < 1 or > 64)
        {
            errors.Add($"MaxForwardedEntries must be between 1 and 64 (is {MaxForwardedEntries}).");
        }

        if (CountryHeader is { Length: 0 })
        {
            errors.Add("CountryHeader must be a header name or unset.");
        }

        return errors;
    }
}

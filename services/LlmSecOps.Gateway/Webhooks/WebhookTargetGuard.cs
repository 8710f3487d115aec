using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Webhooks;

/// <summary>
/// SSRF protection for owner webhooks (CWE-918; OWASP SSRF Prevention Cheat Sheet): a tenant-supplied URL must not
/// make the gateway call loopback, link-local (cloud metadata at 169.254.169.254), private or other non-public
/// addresses, unless <see cref="WebhookOptions.AllowPrivateTargets"/>. Checked when the URL is set and again on
/// every connection (the delivery handler connects only to addresses that pass), so DNS rebinding does not help.
/// </summary>
public sealed class WebhookTargetGuard(IOptions<WebhookOptions> options)
{
    /// <summary>Longest accepted URL.</summary>
    public const int MaxUrlLength = 2048;

    /// <summary>Checks a URL set by an operator; returns the problem, or null when it is acceptable.</summary>
    public async Task<string?> ValidateUrlAsync(string url, CancellationToken cancellationToken)
    {
        if (url.Length > MaxUrlLength)
        {
            return $"Webhook URLs are limited to {MaxUrlLength} characters.";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return "The webhook URL must be an absolute http:// or https:// URL.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "The webhook URL must not carry credentials (user:password@).";
        }

        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(uri.IdnHost, cancellationToken);
        }
        catch (SocketException)
        {
            return $"The webhook host '{uri.Host}' does not resolve.";
        }

        foreach (var address in addresses)
        {
            if (!IsAllowed(address))
            {
                return $"The webhook host '{uri.Host}' resolves to {address}, a loopback, link-local, private or otherwise non-public address; " +
                    "such targets are refused (SSRF) unless Webhooks__AllowPrivateTargets=true.";
            }
        }

        return null;
    }

    /// <summary>True when a connection to <paramref name="address"/> is allowed.</summary>
    public bool IsAllowed(IPAddress address) => options.Value.AllowPrivateTargets || IsPublic(address);

    /// <summary>Resolves a host (an IP literal resolves to itself).</summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);

    /// <summary>True for globally routable unicast addresses only.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return !(b[0] == 0                                  // 0.0.0.0/8 "this network"
                || b[0] == 10                                   // RFC 1918
                || b[0] == 127                                  // loopback
                || (b[0] == 100 && (b[1] & 0xC0) == 64)         // 100.64.0.0/10 carrier-grade NAT (RFC 6598)
                || (b[0] == 169 && b[1] == 254)                 // link-local, cloud metadata (RFC 3927)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)         // RFC 1918
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)      // 192.0.0.0/24 IETF protocol assignments
                || (b[0] == 192 && b[1] == 168)                 // RFC 1918
                || (b[0] == 198 && (b[1] & 0xFE) == 18)         // 198.18.0.0/15 benchmarking (RFC 2544)
                || b[0] >= 224);                                // multicast, reserved, broadcast
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (IPAddress.IPv6Loopback.Equals(address) || IPAddress.IPv6None.Equals(address)
                || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal)
            {
                return false;
            }

            Span<byte> b = stackalloc byte[16];
            address.TryWriteBytes(b, out _);
            // 64:ff9b::/96 NAT64 and 2002::/16 6to4 can embed private IPv4 addresses: refuse them outright.
            if ((b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) || (b[0] == 0x20 && b[1] == 0x02))
            {
                return false;
            }

            return (b[0] & 0xE0) == 0x20; // 2000::/3 global unicast only
        }

        return false;
    }
}

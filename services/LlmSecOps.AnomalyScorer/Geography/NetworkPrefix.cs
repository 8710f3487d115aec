using System.Net;
using System.Net.Sockets;

namespace LlmSecOps.AnomalyScorer.Geography;

/// <summary>
/// The client's network for novelty checks: the IPv4 /24 or IPv6 /48 containing the address, packed into a
/// <see cref="ulong"/> (IPv4 prefixes have the top bit set so the two families never collide).
/// </summary>
public static class NetworkPrefix
{
    /// <summary>Parses <paramref name="clientIp"/> and returns its prefix, or 0 when absent or malformed.</summary>
    public static ulong FromAddress(ReadOnlySpan<char> clientIp)
    {
        if (clientIp.IsEmpty || !IPAddress.TryParse(clientIp, out var address))
        {
            return 0;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork && address.TryWriteBytes(bytes, out _))
        {
            return 0x8000_0000_0000_0000UL | ((ulong)bytes[0] << 16) | ((ulong)bytes[1] << 8) | bytes[2];
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.TryWriteBytes(bytes, out _))
        {
            ulong v = 0;
            for (var i = 0; i < 6; i++)
            {
                v = (v << 8) | bytes[i];
            }

            return v == 0 ? 1 : v;
        }

        return 0;
    }
}

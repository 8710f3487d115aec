using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LlmSecOps.Gateway.Keys;

namespace LlmSecOps.Gateway.Webhooks;

/// <summary>
/// Webhook signatures. Header <see cref="SignatureHeader"/>: <c>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret, "{t}.{body}")&gt;</c>.
/// Receivers recompute the HMAC over the timestamp, a dot and the raw body bytes, compare in constant time and
/// reject timestamps more than 5 minutes from their clock (replay protection).
/// A tenant's signing secret is not stored: it is derived from the pepper and a per-tenant nonce
/// (<c>whsec_</c> + hex HMAC), shown to the operator when the webhook is set.
/// </summary>
public sealed class WebhookSigner(KeyHasher hasher)
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "X-LlmSecOps-Signature";

    /// <summary>Header carrying the notification id (receivers de-duplicate retries with it).</summary>
    public const string IdHeader = "X-LlmSecOps-Webhook-Id";

    /// <summary>The signing secret of a tenant's webhook.</summary>
    public string SecretFor(string tenantId, string nonce, int pepperVersion)
    {
        var key = hasher.DeriveSecret("webhook-signing", pepperVersion);
        return "whsec_" + Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(tenantId + ":" + nonce)));
    }

    /// <summary>The header value for <paramref name="body"/> sent at <paramref name="timestamp"/>.</summary>
    public static string Sign(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
        return $"t={timestamp.ToString(CultureInfo.InvariantCulture)},v1={Convert.ToHexStringLower(mac)}";
    }

    /// <summary>What a receiver does: checks the header against the body, in constant time, within the tolerance.</summary>
    public static bool Verify(string secret, string header, ReadOnlySpan<byte> body, DateTimeOffset now, TimeSpan tolerance)
    {
        long? timestamp = null;
        string? v1 = null;
        foreach (var part in header.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2)
            {
                continue;
            }

            if (kv[0] == "t" && long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out var t))
            {
                timestamp = t;
            }
            else if (kv[0] == "v1")
            {
                v1 = kv[1];
            }
        }

        if (timestamp is null || v1 is null || Math.Abs(now.ToUnixTimeSeconds() - timestamp.Value) > tolerance.TotalSeconds)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(secret, timestamp.Value, body).Split(",v1=")[1]);
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(v1));
    }
}

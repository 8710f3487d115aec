using System.Security.Cryptography;
using System.Text;

namespace LlmSecOps.Simulator.Models;

/// <summary>Ollama's model-name and digest conventions.</summary>
public static class ModelNames
{
    private const string DefaultRegistryPrefix = "registry.ollama.ai/library/";

    /// <summary>
    /// Canonical <c>name:tag</c> as Ollama resolves it: case-insensitive (lower-cased here), the default registry
    /// prefix dropped, and <c>:latest</c> added when no tag is given (<c>llama3.2</c> == <c>llama3.2:latest</c>).
    /// </summary>
    public static string Normalize(string name)
    {
        var trimmed = name.Trim();
        if (trimmed.StartsWith(DefaultRegistryPrefix, StringComparison.OrdinalIgnoreCase))
        {
            trimmed = trimmed[DefaultRegistryPrefix.Length..];
        }

        var lastSlash = trimmed.LastIndexOf('/');
        var hasTag = trimmed.IndexOf(':', lastSlash + 1) >= 0;
        var canonical = hasTag ? trimmed : trimmed + ":latest";
        return canonical.ToLowerInvariant();
    }

    /// <summary>
    /// Returns the 64 lowercase hex characters of a digest given as <c>sha256:&lt;hex&gt;</c>, <c>sha256-&lt;hex&gt;</c>
    /// (Ollama's blob file naming) or bare hex; null when it is not a SHA-256 digest.
    /// </summary>
    public static string? TryNormalizeDigest(string digest)
    {
        var hex = digest.Trim();
        if (hex.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase) || hex.StartsWith("sha256-", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[7..];
        }

        if (hex.Length != 64)
        {
            return null;
        }

        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return null;
            }
        }

        return hex.ToLowerInvariant();
    }

    /// <summary>A stable synthetic digest: lowercase hex SHA-256 of <paramref name="seed"/>.</summary>
    public static string SyntheticDigest(string seed) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(seed)));
}

using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// Computes what the key store keeps: HMAC-SHA256(pepper_v, SHA-256(full key)). The inner SHA-256 is the public
/// token hash (GitHub's partner protocol), so look-up by token hash works; the pepper means a database dump
/// alone cannot confirm a key. Comparisons are constant-time.
/// </summary>
public sealed class KeyHasher
{
    // Read on first use, not in the constructor: options are validated at start (all problems reported together)
    // before anything hashes, and a constructor that reads them would report only its own.
    private readonly Lazy<(Dictionary<int, byte[]> Peppers, int Current)> _state;

    public KeyHasher(IOptions<KeyOptions> options)
    {
        _state = new(() =>
        {
            var peppers = options.Value.EffectivePeppers().ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value));
            return (peppers, options.Value.CurrentPepperVersion ?? (peppers.Count == 0 ? 0 : peppers.Keys.Max()));
        });
    }

    /// <summary>The pepper version new hashes use.</summary>
    public int CurrentVersion => _state.Value.Current;

    private Dictionary<int, byte[]> PepperTable => _state.Value.Peppers;

    /// <summary>Every configured pepper version.</summary>
    public IEnumerable<int> Versions => PepperTable.Keys;

    /// <summary>Hashes a full key with the current pepper.</summary>
    public byte[] HashKey(string key) => HashTokenHash(TokenHashBytes(key), CurrentVersion);

    /// <summary>HMAC-SHA256(pepper_version, tokenHash).</summary>
    public byte[] HashTokenHash(ReadOnlySpan<byte> tokenHash, int version)
    {
        if (!PepperTable.TryGetValue(version, out var pepper))
        {
            throw new InvalidOperationException($"Pepper version {version} is not configured (Keys__Peppers__{version}).");
        }

        return HMACSHA256.HashData(pepper, tokenHash);
    }

    /// <summary>True when <paramref name="key"/> hashes to <paramref name="stored"/> under pepper <paramref name="version"/>; constant-time.</summary>
    public bool Verify(ReadOnlySpan<char> key, int version, ReadOnlySpan<byte> stored)
    {
        if (!PepperTable.TryGetValue(version, out var pepper) || stored.Length != 32)
        {
            return false;
        }

        Span<byte> ascii = stackalloc byte[key.Length];
        Span<byte> sha = stackalloc byte[32];
        Span<byte> mac = stackalloc byte[32];
        Encoding.ASCII.GetBytes(key, ascii);
        SHA256.HashData(ascii, sha);
        HMACSHA256.HashData(pepper, sha, mac);
        CryptographicOperations.ZeroMemory(ascii);
        return CryptographicOperations.FixedTimeEquals(mac, stored);
    }

    /// <summary>A secret derived from the current pepper for another purpose (domain-separated by <paramref name="purpose"/>).</summary>
    public byte[] DeriveSecret(string purpose, int? version = null)
    {
        var v = version ?? CurrentVersion;
        return HMACSHA256.HashData(PepperTable[v], Encoding.UTF8.GetBytes("llmsecops/" + purpose));
    }

    /// <summary>True when the pepper version is configured.</summary>
    public bool HasVersion(int version) => PepperTable.ContainsKey(version);

    /// <summary>SHA-256 of the key's ASCII bytes (the token hash, as bytes).</summary>
    public static byte[] TokenHashBytes(string key) => SHA256.HashData(Encoding.ASCII.GetBytes(key));
}

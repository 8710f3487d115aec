using System.Security.Cryptography;
using System.Text;

namespace LlmSecOps.Contracts.Keys;

/// <summary>
/// The API key format of ARCHITECTURE.md: <c>lso_{env}_{id}_{secret}{crc}</c>, where <c>env</c> is <c>live</c> or
/// <c>test</c>, <c>id</c> 12 base62 chars (public), <c>secret</c> 32 base62 chars from a CSPRNG and <c>crc</c> the
/// CRC-32 of everything before it in base62, 6 chars. The checksum filters typos and look-alikes; it proves nothing.
/// </summary>
public static class ApiKey
{
    /// <summary>Every key starts with this.</summary>
    public const string Prefix = "lso_";

    /// <summary>Length of the public id.</summary>
    public const int IdLength = 12;

    /// <summary>Length of the secret.</summary>
    public const int SecretLength = 32;

    /// <summary>Length of the checksum.</summary>
    public const int ChecksumLength = 6;

    /// <summary>Length of a whole key (both environments have 4-letter names).</summary>
    public const int Length = 4 + 4 + 1 + IdLength + 1 + SecretLength + ChecksumLength;

    /// <summary>The regex of ARCHITECTURE.md, for documentation and scanners that want it (checksum still required).</summary>
    public const string Pattern = @"\blso_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b";

    /// <summary>Creates a new key with a fresh id and secret.</summary>
    public static string Create(KeyEnvironment environment = KeyEnvironment.Live) =>
        Create(environment, NewId());

    /// <summary>Creates a new key with the given public id and a fresh secret (rotation keeps nothing of the old key).</summary>
    public static string Create(KeyEnvironment environment, string id)
    {
        if (id.Length != IdLength || !id.All(Base62.IsDigit))
        {
            throw new ArgumentException($"A key id is {IdLength} base62 characters.", nameof(id));
        }

        Span<char> secret = stackalloc char[SecretLength];
        RandomBase62(secret);
        return Compose(environment, id, secret);
    }

    /// <summary>Builds a key from its parts and appends the checksum.</summary>
    public static string Compose(KeyEnvironment environment, ReadOnlySpan<char> id, ReadOnlySpan<char> secret)
    {
        var env = environment == KeyEnvironment.Test ? "test" : "live";
        Span<char> buffer = stackalloc char[Length];
        var n = 0;
        Prefix.AsSpan().CopyTo(buffer);
        n += Prefix.Length;
        env.AsSpan().CopyTo(buffer[n..]);
        n += env.Length;
        buffer[n++] = '_';
        id.CopyTo(buffer[n..]);
        n += id.Length;
        buffer[n++] = '_';
        secret.CopyTo(buffer[n..]);
        n += secret.Length;
        Base62.Encode(Crc32.ComputeAscii(buffer[..n]), buffer.Slice(n, ChecksumLength));
        return new string(buffer[..(n + ChecksumLength)]);
    }

    /// <summary>A new random public key id.</summary>
    public static string NewId()
    {
        Span<char> id = stackalloc char[IdLength];
        RandomBase62(id);
        return new string(id);
    }

    /// <summary>
    /// Parses and checks a presented key: shape and checksum. Allocation-free; the parts are slices of the input.
    /// False for anything else, including a right-shaped string with a wrong checksum.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ApiKeyParts parts)
    {
        parts = default;
        if (text.Length != Length || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var env = text.Slice(4, 4);
        KeyEnvironment environment;
        if (env.SequenceEqual("live"))
        {
            environment = KeyEnvironment.Live;
        }
        else if (env.SequenceEqual("test"))
        {
            environment = KeyEnvironment.Test;
        }
        else
        {
            return false;
        }

        if (text[8] != '_' || text[8 + 1 + IdLength] != '_')
        {
            return false;
        }

        var body = text[9..];
        for (var i = 0; i < body.Length; i++)
        {
            if (i != IdLength && !Base62.IsDigit(body[i]))
            {
                return false;
            }
        }

        var checksumStart = Length - ChecksumLength;
        if (!Base62.TryDecode(text[checksumStart..], out var crc) || crc != Crc32.ComputeAscii(text[..checksumStart]))
        {
            return false;
        }

        parts = new ApiKeyParts(environment, 9, 9 + IdLength + 1);
        return true;
    }

    /// <summary>True when <paramref name="text"/> is a well-formed key with a valid checksum.</summary>
    public static bool IsValid(ReadOnlySpan<char> text) => TryParse(text, out _);

    /// <summary>The token hash of ARCHITECTURE.md and GitHub's partner protocol: lowercase hex SHA-256 of the full key.</summary>
    public static string TokenHash(string key)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.ASCII.GetBytes(key), hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Fills <paramref name="destination"/> with uniformly random base62 characters from the OS CSPRNG.</summary>
    private static void RandomBase62(Span<char> destination)
    {
        // GetItems draws uniformly (no modulo bias) from a cryptographic RNG.
        RandomNumberGenerator.GetItems(Base62.Alphabet.AsSpan(), destination);
    }
}

/// <summary>The environment a key was issued for.</summary>
public enum KeyEnvironment
{
    /// <summary><c>live</c> (the default).</summary>
    Live,

    /// <summary><c>test</c>.</summary>
    Test,
}

/// <summary>Offsets of a parsed key's parts; slice the original text with them.</summary>
/// <param name="Environment">live or test.</param>
/// <param name="IdStart">Index of the 12-char id.</param>
/// <param name="SecretStart">Index of the 32-char secret.</param>
public readonly record struct ApiKeyParts(KeyEnvironment Environment, int IdStart, int SecretStart)
{
    /// <summary>The public id within <paramref name="key"/>.</summary>
    public ReadOnlySpan<char> Id(ReadOnlySpan<char> key) => key.Slice(IdStart, ApiKey.IdLength);

    /// <summary>The public id within <paramref name="key"/>, as a string.</summary>
    public string IdString(string key) => key.Substring(IdStart, ApiKey.IdLength);
}

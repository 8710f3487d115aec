using System.Security.Cryptography;
using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.Gateway.Admin;

/// <summary>Server-made opaque ids: a type prefix and 20 random base62 characters.</summary>
public static class Ids
{
    /// <summary>A new id such as <c>ten_4fZ...</c>.</summary>
    public static string New(string prefix)
    {
        Span<char> chars = stackalloc char[20];
        RandomNumberGenerator.GetItems(Base62.Alphabet.AsSpan(), chars);
        return prefix + "_" + new string(chars);
    }

    /// <summary>True for a plausible id (bounded, safe characters) — anything else is simply not found.</summary>
    public static bool LooksValid(string? id) =>
        id is { Length: > 0 and <= 64 } && id.All(c => Base62.IsDigit(c) || c == '_');
}

namespace LlmSecOps.Contracts.Keys;

/// <summary>Base62 with the alphabet <c>0-9A-Za-z</c>, in that order (ARCHITECTURE.md).</summary>
public static class Base62
{
    /// <summary>The alphabet, in digit order.</summary>
    public const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>True for a character of the alphabet.</summary>
    public static bool IsDigit(char c) => c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or (>= 'a' and <= 'z');

    /// <summary>True for a byte of the alphabet.</summary>
    public static bool IsDigit(byte b) => IsDigit((char)b);

    /// <summary>Writes <paramref name="value"/> most significant digit first, left-padded with '0' to fill <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">The value does not fit.</exception>
    public static void Encode(ulong value, Span<char> destination)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }

        if (value != 0)
        {
            throw new ArgumentException("The value does not fit in the destination.", nameof(destination));
        }
    }

    /// <summary>Decodes base62 digits, most significant first; false on a non-digit or overflow.</summary>
    public static bool TryDecode(ReadOnlySpan<char> digits, out ulong value)
    {
        value = 0;
        foreach (var c in digits)
        {
            int d = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'A' and <= 'Z' => c - 'A' + 10,
                >= 'a' and <= 'z' => c - 'a' + 36,
                _ => -1,
            };
            if (d < 0 || value > (ulong.MaxValue - (ulong)d) / 62)
            {
                value = 0;
                return false;
            }

            value = (value * 62) + (ulong)d;
        }

        return true;
    }
}

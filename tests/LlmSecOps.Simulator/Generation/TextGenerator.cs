namespace LlmSecOps.Simulator.Generation;

/// <summary>
/// Deterministic text. A completion is a sequence of word tokens picked from a fixed vocabulary by a SplitMix64
/// stream seeded with <see cref="Seed"/> = f(model, prompt, seed, choice index): the same request always gets the
/// same text, and a shorter limit always yields a prefix of the longer answer. One token = one word (with its
/// leading space after the first, a capital at the start of a sentence, and a full stop every tenth word and at the
/// natural end). Each streamed chunk carries exactly one token.
/// </summary>
public static class TextGenerator
{
    private static readonly string[] Vocabulary =
    [
        "the", "model", "answers", "with", "simulated", "text", "that", "is", "stable", "across", "runs", "and",
        "machines", "so", "tests", "can", "compare", "every", "byte", "of", "it", "while", "a", "gateway",
        "counts", "tokens", "budgets", "limits", "keys", "streams", "chunks", "usage", "request", "response",
        "prompt", "completion", "latency", "throughput", "upstream", "client", "server", "context", "window",
        "length", "stop", "reason", "digest", "answer", "route", "header", "record", "event", "policy", "tenant",
        "secure", "local", "quiet", "bright", "quick", "calm", "small", "plain", "clear", "final",
    ];

    /// <summary>Vocabulary size (a power of two, so a hash picks a word with a mask).</summary>
    internal const int VocabularySize = 64;

    // Index = word * 8 + capital * 4 + fullStop * 2 + leadingSpace: every token string is built once.
    private static readonly string[] Tokens = BuildTokens();

    /// <summary>The seed of one completion choice.</summary>
    public static ulong Seed(string model, in PromptFingerprint prompt, long seed, int choice)
    {
        var h = Fnv.Hash(model.AsSpan(), Fnv.Offset);
        h = SplitMix.Mix(h ^ prompt.Hash);
        h = SplitMix.Mix(h ^ (ulong)seed);
        return SplitMix.Mix(h ^ (ulong)(uint)choice);
    }

    /// <summary>Token <paramref name="index"/> (0-based) of a completion whose natural length is <paramref name="naturalLength"/>.</summary>
    public static string Token(ulong seed, int index, int naturalLength)
    {
        var word = (int)(SplitMix.Mix(seed + (ulong)index) & (VocabularySize - 1));
        var capital = index % 10 == 0 ? 4 : 0;
        var fullStop = index % 10 == 9 || index == naturalLength - 1 ? 2 : 0;
        var space = index > 0 ? 1 : 0;
        return Tokens[(word * 8) + capital + fullStop + space];
    }

    /// <summary>The first <paramref name="count"/> tokens concatenated.</summary>
    public static string Text(ulong seed, int count, int naturalLength)
    {
        var parts = new string[count];
        for (var i = 0; i < count; i++)
        {
            parts[i] = Token(seed, i, naturalLength);
        }

        return string.Concat(parts);
    }

    private static string[] BuildTokens()
    {
        if (Vocabulary.Length != VocabularySize || Vocabulary.Distinct().Count() != VocabularySize)
        {
            throw new InvalidOperationException($"The vocabulary must hold {VocabularySize} distinct words.");
        }

        var tokens = new string[VocabularySize * 8];
        for (var w = 0; w < VocabularySize; w++)
        {
            for (var flags = 0; flags < 8; flags++)
            {
                var word = Vocabulary[w];
                if ((flags & 4) != 0)
                {
                    word = char.ToUpperInvariant(word[0]) + word[1..];
                }

                if ((flags & 2) != 0)
                {
                    word += ".";
                }

                tokens[(w * 8) + flags] = (flags & 1) != 0 ? " " + word : word;
            }
        }

        return tokens;
    }
}

/// <summary>SplitMix64 finaliser (Steele, Lea, Flood 2014): a cheap, well-mixed 64-bit hash step.</summary>
internal static class SplitMix
{
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>FNV-1a, 64-bit, over UTF-16 code units.</summary>
internal static class Fnv
{
    public const ulong Offset = 0xCBF29CE484222325UL;
    private const ulong Prime = 0x100000001B3UL;

    public static ulong Hash(ReadOnlySpan<char> text, ulong hash)
    {
        foreach (var c in text)
        {
            hash = (hash ^ c) * Prime;
        }

        return hash;
    }
}

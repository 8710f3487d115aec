using System.Text;

namespace LlmSecOps.Simulator.Generation;

/// <summary>
/// Accumulates the text inputs of a request: a hash that seeds the generated text, and the prompt token count.
/// <para>Token counting rule (documented in docs/simulator.md): <c>prompt tokens = max(1, ceil(UTF-8 bytes / 4))</c>
/// over every text input (message contents, or system + prompt for generate; roles and JSON syntax do not count).
/// It never exceeds the UTF-8 byte count of the request, so a gateway's byte-based estimate is always an upper bound.</para>
/// </summary>
public struct PromptFingerprint
{
    private ulong _hash;
    private long _utf8Bytes;
    private bool _started;

    /// <summary>Hash of everything added, in order (part boundaries included).</summary>
    public readonly ulong Hash => _started ? _hash : Fnv.Offset;

    /// <summary>UTF-8 bytes of the text added.</summary>
    public readonly long Utf8Bytes => _utf8Bytes;

    /// <summary>Prompt tokens by the rule above.</summary>
    public readonly int Tokens => CountTokens(_utf8Bytes);

    /// <summary>Adds one part (a message's role or content, a prompt).</summary>
    public void Add(string? text, bool counts = true)
    {
        if (!_started)
        {
            _hash = Fnv.Offset;
            _started = true;
        }

        text ??= "";
        _hash = Fnv.Hash(text.AsSpan(), _hash);
        _hash = (_hash ^ 0x1F) * 0x100000001B3UL; // part separator, so ["ab","c"] != ["a","bc"]
        if (counts)
        {
            _utf8Bytes += Encoding.UTF8.GetByteCount(text);
        }
    }

    /// <summary>Adds bytes to the count without hashing (inputs given as token ids count 4 bytes per id).</summary>
    public void AddBytes(long utf8Bytes) => _utf8Bytes += utf8Bytes;

    /// <summary><c>max(1, ceil(bytes / 4))</c>, capped at int.MaxValue.</summary>
    public static int CountTokens(long utf8Bytes) => (int)Math.Clamp((utf8Bytes + 3) / 4, 1, int.MaxValue);
}

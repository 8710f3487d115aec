using System.Buffers;
using System.Runtime.CompilerServices;
using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.KeyLeakWatcher.Scanning;

/// <summary>A key found in a byte stream: the key text, its 1-based line and its byte offset in the stream.</summary>
/// <param name="Key">The full key (a secret: never log it).</param>
/// <param name="Line">1-based line number (count of LF bytes before it, plus one).</param>
/// <param name="Offset">Byte offset of the key's first character in the stream.</param>
public readonly record struct KeyMatch(string Key, long Line, long Offset)
{
    /// <summary>Never prints the key.</summary>
    public override string ToString() => $"key at line {Line}, offset {Offset}";
}

/// <summary>
/// Finds keys of our format in bytes. A vectorised prefilter on <c>lso_live_</c> / <c>lso_test_</c> skips everything
/// else (no per-line regex); each candidate is checked by <see cref="ApiKey.TryParse"/> (shape and CRC-32), so look-alikes with a bad checksum are
/// never reported. Streams are read in pooled chunks with the last <see cref="ApiKey.Length"/> - 1 bytes carried
/// into the next chunk, so a key split across a chunk boundary is found once and memory stays bounded whatever
/// the line length or file size (binary files included).
/// </summary>
/// <remarks>
/// Word boundaries of the published regex are not required: a valid CRC-32 already rejects all but 1 in 2^32
/// random look-alikes, and a key glued to other text (base64 blobs, <c>KEYlso_...</c>) is still a leaked key.
/// </remarks>
public static class KeyScanner
{
    /// <summary>Default chunk size for stream scanning.</summary>
    public const int DefaultChunkSize = 128 * 1024;

    private static ReadOnlySpan<byte> LivePrefix => "lso_live_"u8;

    private static ReadOnlySpan<byte> TestPrefix => "lso_test_"u8;

    /// <summary>Scans a whole in-memory buffer; valid keys are appended to <paramref name="matches"/>. Returns how many.</summary>
    public static int Scan(ReadOnlySpan<byte> data, List<KeyMatch> matches)
    {
        var state = new LineCounter();
        return ScanWindow(data, data.Length, 0, ref state, matches);
    }

    /// <summary>
    /// Scans a stream to its end in bounded memory; valid keys are appended to <paramref name="matches"/>.
    /// Returns the number of bytes read.
    /// </summary>
    public static async ValueTask<long> ScanAsync(Stream stream, List<KeyMatch> matches, CancellationToken cancellationToken, int chunkSize = DefaultChunkSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, ApiKey.Length * 2);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            var carry = 0;
            long bufferStart = 0;
            long total = 0;
            var lines = new LineCounter();
            while (true)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(carry, chunkSize - carry), cancellationToken);
                total += read;
                var filled = carry + read;
                var eof = read == 0;
                // Positions whose key would end past the data read so far are carried, unless the stream ended.
                var scanLimit = eof ? filled : filled - (ApiKey.Length - 1);
                if (scanLimit > 0)
                {
                    ScanWindow(buffer.AsSpan(0, filled), scanLimit, bufferStart, ref lines, matches);
                }

                if (eof)
                {
                    return total;
                }

                var keep = Math.Min(filled, ApiKey.Length - 1);
                var drop = filled - keep;
                lines.Advance(buffer.AsSpan(0, drop));
                buffer.AsSpan(drop, keep).CopyTo(buffer);
                bufferStart += drop;
                carry = keep;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The valid keys in a string (its UTF-8 bytes).</summary>
    public static List<KeyMatch> ScanText(string text)
    {
        var matches = new List<KeyMatch>();
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        Scan(bytes, matches);
        return matches;
    }

    /// <summary>Checks candidate start positions below <paramref name="scanLimit"/> in <paramref name="window"/>.</summary>
    /// <remarks>
    /// Fully optimised from the first call: a one-off CLI scan would otherwise spend much of its run in tier-0 code
    /// of this loop before tiered compilation promotes it.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ScanWindow(ReadOnlySpan<byte> window, int scanLimit, long windowStart, ref LineCounter lines, List<KeyMatch> matches)
    {
        // The prefilter looks for "lso_live_" and "lso_test_" (each a vectorised search anchored on its first and last
        // byte), so words such as "also_" that merely contain "lso_" cost nothing; the next candidate is the nearer one.
        var found = 0;
        var linePosition = 0;
        var line = lines.Line;
        var nextLive = Next(window, 0, LivePrefix);
        var nextTest = Next(window, 0, TestPrefix);
        while (true)
        {
            var start = Math.Min(nextLive, nextTest);
            if (start >= scanLimit)
            {
                break;
            }

            var position = start + 1;
            if (start + ApiKey.Length <= window.Length && TryValidate(window.Slice(start, ApiKey.Length), out var key))
            {
                line += window[linePosition..start].Count((byte)'\n');
                linePosition = start;
                matches.Add(new KeyMatch(key, line, windowStart + start));
                found++;
                position = start + ApiKey.Length;
            }

            if (nextLive < position)
            {
                nextLive = Next(window, position, LivePrefix);
            }

            if (nextTest < position)
            {
                nextTest = Next(window, position, TestPrefix);
            }
        }

        return found;
    }

    /// <summary>Index of the next <paramref name="needle"/> at or after <paramref name="from"/>, or <see cref="int.MaxValue"/>.</summary>
    private static int Next(ReadOnlySpan<byte> window, int from, ReadOnlySpan<byte> needle)
    {
        if (from >= window.Length)
        {
            return int.MaxValue;
        }

        var index = window[from..].IndexOf(needle);
        return index < 0 ? int.MaxValue : from + index;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryValidate(ReadOnlySpan<byte> candidate, out string key)
    {
        key = string.Empty;

        Span<char> chars = stackalloc char[ApiKey.Length];
        for (var i = 0; i < candidate.Length; i++)
        {
            var b = candidate[i];
            if (b >= 0x80)
            {
                return false;
            }

            chars[i] = (char)b;
        }

        if (!ApiKey.TryParse(chars, out _))
        {
            return false;
        }

        key = new string(chars);
        return true;
    }

    /// <summary>Line number of the first byte of the current window.</summary>
    private struct LineCounter
    {
        private long _newlines;

        public readonly long Line => _newlines + 1;

        public void Advance(ReadOnlySpan<byte> consumed) => _newlines += consumed.Count((byte)'\n');
    }
}

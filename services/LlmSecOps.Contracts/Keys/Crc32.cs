namespace LlmSecOps.Contracts.Keys;

/// <summary>
/// CRC-32 as in IEEE 802.3 and zlib (reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF).
/// System.IO.Hashing is not available to us (ENVIRONMENT.md), so this is the table-driven classic.
/// </summary>
public static class Crc32
{
    private static readonly uint[] Table = CreateTable();

    /// <summary>Computes the CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>Computes the CRC-32 of ASCII text (each char taken as one byte; callers pass ASCII only).</summary>
    public static uint ComputeAscii(ReadOnlySpan<char> text)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var c in text)
        {
            crc = Table[(crc ^ (byte)c) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] CreateTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}

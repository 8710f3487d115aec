using LlmSecOps.AnomalyScorer.Detection.Statistics;

namespace LlmSecOps.AnomalyScorer.Snapshots;

/// <summary>Binary helpers for the detectors' snapshot state (little-endian, versioned by the caller).</summary>
internal static class StateCodec
{
    public static void Write(this BinaryWriter w, RingBuffer<long> buffer)
    {
        w.Write(buffer.Count);
        for (var i = 0; i < buffer.Count; i++)
        {
            w.Write(buffer[i]);
        }
    }

    public static void Write(this BinaryWriter w, RingBuffer<double> buffer)
    {
        w.Write(buffer.Count);
        for (var i = 0; i < buffer.Count; i++)
        {
            w.Write(buffer[i]);
        }
    }

    public static void Write(this BinaryWriter w, RingBuffer<byte> buffer)
    {
        w.Write(buffer.Count);
        for (var i = 0; i < buffer.Count; i++)
        {
            w.Write(buffer[i]);
        }
    }

    public static void Read(this BinaryReader r, RingBuffer<long> buffer)
    {
        buffer.Clear();
        for (var n = ReadCount(r); n > 0; n--)
        {
            buffer.AddLast(r.ReadInt64());
        }
    }

    public static void Read(this BinaryReader r, RingBuffer<double> buffer)
    {
        buffer.Clear();
        for (var n = ReadCount(r); n > 0; n--)
        {
            buffer.AddLast(r.ReadDouble());
        }
    }

    public static void Read(this BinaryReader r, RingBuffer<byte> buffer)
    {
        buffer.Clear();
        for (var n = ReadCount(r); n > 0; n--)
        {
            buffer.AddLast(r.ReadByte());
        }
    }

    public static void Write(this BinaryWriter w, int[] values)
    {
        w.Write(values.Length);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    public static void Write(this BinaryWriter w, long[] values)
    {
        w.Write(values.Length);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    /// <summary>Reads into <paramref name="values"/>; a snapshot of another length is a corrupt snapshot.</summary>
    public static void Read(this BinaryReader r, int[] values)
    {
        ExpectLength(r, values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = r.ReadInt32();
        }
    }

    public static void Read(this BinaryReader r, long[] values)
    {
        ExpectLength(r, values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = r.ReadInt64();
        }
    }

    public static void WriteNullable(this BinaryWriter w, DateTimeOffset? value) =>
        w.Write(value is { } v ? v.ToUnixTimeMilliseconds() : long.MinValue);

    public static DateTimeOffset? ReadNullableTime(this BinaryReader r)
    {
        var ms = r.ReadInt64();
        return ms == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    public static int ReadCount(BinaryReader r)
    {
        var n = r.ReadInt32();
        if (n is < 0 or > 1_000_000)
        {
            throw new InvalidDataException($"A snapshot count of {n} is out of range.");
        }

        return n;
    }

    private static void ExpectLength(BinaryReader r, int expected)
    {
        var n = r.ReadInt32();
        if (n != expected)
        {
            throw new InvalidDataException($"A snapshot array has {n} values where {expected} were expected.");
        }
    }
}

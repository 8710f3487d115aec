namespace LlmSecOps.Inference.Parameters;

/// <summary>
/// Parses Go's <c>time.ParseDuration</c> syntax, which Ollama uses for <c>keep_alive</c> strings: an optional sign
/// then one or more decimal numbers each with a unit (<c>ns us µs ms s m h</c>), e.g. <c>"5m"</c>, <c>"1h30m"</c>,
/// <c>"-1m"</c>, <c>"1.5h"</c>. <c>"0"</c> alone is allowed. Anything else is refused (Ollama would refuse it too).
/// </summary>
public static class GoDuration
{
    /// <summary>Parses <paramref name="text"/> (UTF-8); false when it is not a Go duration or overflows.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text.IsEmpty || text.Length > 64)
        {
            return false;
        }

        var negative = false;
        if (text[0] is (byte)'-' or (byte)'+')
        {
            negative = text[0] == (byte)'-';
            text = text[1..];
        }

        if (text.SequenceEqual("0"u8))
        {
            return true;
        }

        if (text.IsEmpty)
        {
            return false;
        }

        decimal totalTicks = 0;
        while (!text.IsEmpty)
        {
            var i = 0;
            decimal value = 0;
            decimal scale = 1;
            var digits = 0;
            var fraction = false;
            while (i < text.Length && (char.IsAsciiDigit((char)text[i]) || text[i] == (byte)'.'))
            {
                if (text[i] == (byte)'.')
                {
                    if (fraction)
                    {
                        return false;
                    }

                    fraction = true;
                }
                else
                {
                    digits++;
                    if (digits > 20)
                    {
                        return false;
                    }

                    if (fraction)
                    {
                        scale /= 10;
                        value += (text[i] - '0') * scale;
                    }
                    else
                    {
                        value = (value * 10) + (text[i] - '0');
                    }
                }

                i++;
            }

            if (digits == 0)
            {
                return false;
            }

            text = text[i..];
            decimal ticksPerUnit;
            int unitLength;
            if (text.StartsWith("ns"u8))
            {
                ticksPerUnit = 0.01m;
                unitLength = 2;
            }
            else if (text.StartsWith("us"u8))
            {
                ticksPerUnit = 10;
                unitLength = 2;
            }
            else if (text.StartsWith("µs"u8))
            {
                ticksPerUnit = 10;
                unitLength = "µs"u8.Length;
            }
            else if (text.StartsWith("ms"u8))
            {
                ticksPerUnit = TimeSpan.TicksPerMillisecond;
                unitLength = 2;
            }
            else if (text.StartsWith("s"u8))
            {
                ticksPerUnit = TimeSpan.TicksPerSecond;
                unitLength = 1;
            }
            else if (text.StartsWith("m"u8))
            {
                ticksPerUnit = TimeSpan.TicksPerMinute;
                unitLength = 1;
            }
            else if (text.StartsWith("h"u8))
            {
                ticksPerUnit = TimeSpan.TicksPerHour;
                unitLength = 1;
            }
            else
            {
                return false;
            }

            text = text[unitLength..];
            if (value > TimeSpan.MaxValue.Ticks / ticksPerUnit)
            {
                return false;
            }

            totalTicks += value * ticksPerUnit;
            if (totalTicks > TimeSpan.MaxValue.Ticks)
            {
                return false;
            }
        }

        var ticks = (long)totalTicks;
        duration = TimeSpan.FromTicks(negative ? -ticks : ticks);
        return true;
    }
}

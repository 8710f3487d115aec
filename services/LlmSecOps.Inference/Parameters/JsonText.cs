using System.Globalization;
using System.Text;

namespace LlmSecOps.Inference.Parameters;

/// <summary>
/// Decodes the raw bytes of a JSON string (between its quotes). Unlike <c>Utf8JsonReader.GetString</c>, a lone
/// surrogate escape (<c>"\ud800"</c>) does not throw: it becomes U+FFFD, as Go's encoding/json (Ollama) does, so
/// the guards read the same text the upstream will.
/// </summary>
internal static class JsonText
{
    public static string Decode(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOf((byte)'\\') < 0)
        {
            return Encoding.UTF8.GetString(raw);
        }

        var builder = new StringBuilder(raw.Length);
        var start = 0;
        var i = 0;
        while (i < raw.Length)
        {
            if (raw[i] != (byte)'\\')
            {
                i++;
                continue;
            }

            builder.Append(Encoding.UTF8.GetString(raw[start..i]));
            if (i + 1 >= raw.Length)
            {
                break;
            }

            var e = raw[i + 1];
            i += 2;
            switch (e)
            {
                case (byte)'n': builder.Append('\n'); break;
                case (byte)'t': builder.Append('\t'); break;
                case (byte)'r': builder.Append('\r'); break;
                case (byte)'b': builder.Append('\b'); break;
                case (byte)'f': builder.Append('\f'); break;
                case (byte)'u':
                    if (i + 4 <= raw.Length && ushort.TryParse(Encoding.ASCII.GetString(raw.Slice(i, 4)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                    {
                        builder.Append((char)code);
                        i += 4;
                    }

                    break;
                default: builder.Append((char)e); break;
            }

            start = i;
        }

        if (start < raw.Length)
        {
            builder.Append(Encoding.UTF8.GetString(raw[start..]));
        }

        // Replace unpaired surrogates with U+FFFD.
        for (var k = 0; k < builder.Length; k++)
        {
            var c = builder[k];
            if (char.IsHighSurrogate(c) && k + 1 < builder.Length && char.IsLowSurrogate(builder[k + 1]))
            {
                k++;
            }
            else if (char.IsSurrogate(c))
            {
                builder[k] = '\uFFFD';
            }
        }

        return builder.ToString();
    }
}

using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Parameters;

/// <summary>
/// Reads a request body ONCE with <see cref="Utf8JsonReader"/> and extracts <see cref="RequestParameters"/>, enforcing
/// <see cref="RequestLimits"/> as it goes. Refuses, with a typed <see cref="InferenceRequestException"/>:
/// non-UTF-8 bodies and a leading BOM (RFC 8259 §8.1), syntax errors, comments and trailing commas, anything but an
/// object at the top, duplicate keys in any object (RFC 8259 §4 leaves their meaning unpredictable; Go's
/// encoding/json used by Ollama keeps the LAST, other parsers the first — a guard and the upstream must never see
/// different requests), nesting beyond the limit, and wrongly typed or out-of-range parameters.
/// <para>
/// Keys are compared the way Go's encoding/json binds them to struct fields: case-insensitively, with the
/// Unicode folds it special-cases (<c>ſ</c> U+017F = <c>s</c>, <c>K</c> U+212A = <c>k</c>). So
/// <c>{"model":"allowed","Model":"other"}</c> is a duplicate (Go would take the last one and run a model the
/// authorization never saw), and a key that folds to a parameter the gateway checks but is not spelled exactly
/// (<c>"Options"</c>, <c>"MAX_TOKENS"</c>) is refused: a Go upstream (Ollama) would bind it while a Python one
/// (vLLM) would ignore it, and either way the gateway's cap would not be what the upstream reads (JSON
/// interoperability research, Bishop Fox 2021: case-insensitive key matching as a parser differential).
/// </para>
/// </summary>
public static class RequestBodyParser
{
    private const int MaxModelNameLength = 256;

    private enum Tag : byte
    {
        Other,
        Root,
        Options,
        StreamOptions,
        LogitBias,
        Messages,
        Message,
        MessageContent,
        ContentPart,
        ImageUrl,
        Images,
        TextArray,
    }

    private struct Frame
    {
        public Tag Tag;
        public bool IsArray;
        public int ObjectId;
        public int Count;
    }

    /// <summary>Parses <paramref name="body"/> for <paramref name="route"/>.</summary>
    public static RequestParameters Parse(InferenceRoute route, ReadOnlySpan<byte> body, RequestLimits? limits = null)
    {
        limits ??= RequestLimits.Default;
        if (body.Length > limits.MaxBodyBytes)
        {
            throw new InferenceRequestException(RequestErrorKind.TooLarge, null,
                $"The request body is {body.Length} bytes; the limit is {limits.MaxBodyBytes}.");
        }

        if (body.Length >= 3 && body[0] == 0xEF && body[1] == 0xBB && body[2] == 0xBF)
        {
            throw new InferenceRequestException(RequestErrorKind.InvalidUtf8, null,
                "The request body starts with a byte-order mark; send JSON as UTF-8 without a BOM (RFC 8259 §8.1).");
        }

        if (!Utf8.IsValid(body))
        {
            throw new InferenceRequestException(RequestErrorKind.InvalidUtf8, null, "The request body is not valid UTF-8.");
        }

        var result = new RequestParameters(route, body.Length);
        var nameBuffer = ArrayPool<byte>.Shared.Rent(limits.MaxPropertyNameBytes * 2);
        var frames = ArrayPool<Frame>.Shared.Rent(limits.MaxDepth + 2);
        using var keys = new DuplicateKeyTable();
        try
        {
            Walk(route, body, limits, result, nameBuffer, frames, keys);
        }
        catch (JsonException ex)
        {
            throw new InferenceRequestException(RequestErrorKind.MalformedJson, null,
                $"The request body is not valid JSON (at byte {ex.BytePositionInLine}).");
        }
        catch (InvalidOperationException)
        {
            // GetString on an escape that is not valid UTF-16 (a lone surrogate such as "\ud800").
            throw new InferenceRequestException(RequestErrorKind.MalformedJson, null,
                "The request body holds a string with an invalid escape sequence (an unpaired surrogate).");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(nameBuffer);
            ArrayPool<Frame>.Shared.Return(frames);
        }

        if (route.NamesModel && string.IsNullOrEmpty(result.Model))
        {
            throw new InferenceRequestException(RequestErrorKind.Missing, "model", "The 'model' parameter is required.");
        }

        return result;
    }

    private static void Walk(InferenceRoute route, ReadOnlySpan<byte> body, RequestLimits limits, RequestParameters p,
        byte[] nameBuffer, Frame[] frames, DuplicateKeyTable keys)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions
        {
            MaxDepth = limits.MaxDepth + 1,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        });

        if (!reader.Read())
        {
            throw new InferenceRequestException(RequestErrorKind.MalformedJson, null, "The request body is empty.");
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InferenceRequestException(RequestErrorKind.MalformedJson, null, "The request body must be a JSON object.");
        }

        var depth = 0;
        var nextObjectId = 0;
        frames[0] = new Frame { Tag = Tag.Root, ObjectId = nextObjectId++ };
        p.RootStart = (int)reader.TokenStartIndex;
        ReadOnlySpan<byte> name = default;

        while (reader.Read())
        {
            ref var frame = ref frames[depth];
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                {
                    if (++frame.Count > limits.MaxPropertiesPerObject)
                    {
                        throw new InferenceRequestException(RequestErrorKind.TooLarge, "body",
                            $"An object has more than {limits.MaxPropertiesPerObject} properties.");
                    }

                    if (reader.ValueSpan.Length > limits.MaxPropertyNameBytes)
                    {
                        throw new InferenceRequestException(RequestErrorKind.TooLarge, "body",
                            $"A property name is longer than {limits.MaxPropertyNameBytes} bytes.");
                    }

                    if (reader.ValueIsEscaped)
                    {
                        int written;
                        try
                        {
                            written = reader.CopyString(nameBuffer);
                        }
                        catch (InvalidOperationException)
                        {
                            throw new InferenceRequestException(RequestErrorKind.MalformedJson, null,
                                "A property name holds an invalid escape sequence.");
                        }

                        name = nameBuffer.AsSpan(0, written);
                    }
                    else
                    {
                        name = reader.ValueSpan;
                    }

                    var folded = Fold(name, nameBuffer.AsSpan(limits.MaxPropertyNameBytes));
                    if (!keys.TryAdd(frame.ObjectId, folded))
                    {
                        throw new InferenceRequestException(RequestErrorKind.DuplicateKey, Describe(frame.Tag, name),
                            $"The key '{Printable(name)}' appears twice in the same object (keys are compared case-insensitively); duplicate keys are refused (RFC 8259 §4).");
                    }

                    if (!folded.SequenceEqual(name) && IsRecognised(folded))
                    {
                        throw new InferenceRequestException(RequestErrorKind.AmbiguousKey, Describe(frame.Tag, folded),
                            $"The key '{Printable(name)}' must be spelled '{Printable(folded)}' (parameter names are lower case).");
                    }

                    if (frame.Tag == Tag.Root)
                    {
                        p.RootHasProperties = true;
                    }
                    else if (frame.Tag == Tag.Options)
                    {
                        p.OptionsHasProperties = true;
                    }
                    else if (frame.Tag == Tag.StreamOptions)
                    {
                        p.StreamOptionsHasProperties = true;
                    }

                    if (frame.Tag == Tag.LogitBias)
                    {
                        p.LogitBiasEntries++;
                    }

                    continue;
                }

                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    depth--;
                    name = default;
                    continue;
            }

            // A value: either the value of property `name` in an object frame, or an element of an array frame.
            Tag parent = frame.Tag;
            var inArray = frame.IsArray;
            if (inArray && ++frame.Count > limits.MaxArrayLength)
            {
                throw new InferenceRequestException(RequestErrorKind.TooLarge, "body",
                    $"An array has more than {limits.MaxArrayLength} elements.");
            }

            var childTag = inArray ? ElementValue(ref reader, parent, p, limits) : PropertyValue(ref reader, route, parent, name, p);

            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                if (depth + 1 >= limits.MaxDepth)
                {
                    throw new InferenceRequestException(RequestErrorKind.TooDeep, null,
                        $"The request body nests deeper than {limits.MaxDepth} levels.");
                }

                depth++;
                frames[depth] = new Frame
                {
                    Tag = childTag,
                    IsArray = reader.TokenType == JsonTokenType.StartArray,
                    ObjectId = reader.TokenType == JsonTokenType.StartObject ? nextObjectId++ : -1,
                };
            }
        }
    }

    /// <summary>Handles the value of a property; returns the tag for a container value.</summary>
    private static Tag PropertyValue(ref Utf8JsonReader reader, InferenceRoute route, Tag parent, ReadOnlySpan<byte> name, RequestParameters p)
    {
        switch (parent)
        {
            case Tag.Root:
                return RootProperty(ref reader, route, name, p);

            case Tag.Options:
                if (name.SequenceEqual("num_predict"u8))
                {
                    p.NumPredict = ReadInteger(ref reader, "options.num_predict", min: long.MinValue);
                    p.NumPredictValue = ValueSpan(ref reader);
                }
                else if (name.SequenceEqual("num_ctx"u8))
                {
                    p.NumCtx = ReadInteger(ref reader, "options.num_ctx", min: 1);
                }
                else if (IsHardwareOption(name) && reader.TokenType != JsonTokenType.Null)
                {
                    p.HardwareOption ??= "options." + Printable(name);
                }

                return Tag.Other;

            case Tag.StreamOptions:
                if (name.SequenceEqual("include_usage"u8))
                {
                    p.IncludeUsage = ReadBool(ref reader, "stream_options.include_usage");
                    p.IncludeUsageValue = ValueSpan(ref reader);
                }

                return Tag.Other;

            case Tag.Message:
                if (name.SequenceEqual("content"u8))
                {
                    return reader.TokenType switch
                    {
                        JsonTokenType.String => AddText(ref reader, p),
                        JsonTokenType.StartArray => Tag.MessageContent,
                        JsonTokenType.Null => Tag.Other,
                        _ => throw TypeError("messages[].content", "a string or an array of content parts"),
                    };
                }

                if (name.SequenceEqual("images"u8))
                {
                    return ExpectArrayOrNull(ref reader, "messages[].images", Tag.Images);
                }

                return Tag.Other;

            case Tag.ContentPart:
                if (name.SequenceEqual("text"u8) && reader.TokenType == JsonTokenType.String)
                {
                    return AddText(ref reader, p);
                }

                if (name.SequenceEqual("image_url"u8))
                {
                    p.ImageCount++;
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        ImageUrl(ref reader, p);
                        return Tag.Other;
                    }

                    return reader.TokenType == JsonTokenType.StartObject
                        ? Tag.ImageUrl
                        : throw TypeError("messages[].content[].image_url", "an object with a 'url'");
                }

                return Tag.Other;

            case Tag.ImageUrl:
                if (name.SequenceEqual("url"u8))
                {
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw TypeError("messages[].content[].image_url.url", "a string");
                    }

                    ImageUrl(ref reader, p);
                }

                return Tag.Other;

            default:
                return Tag.Other;
        }
    }

    private static Tag RootProperty(ref Utf8JsonReader reader, InferenceRoute route, ReadOnlySpan<byte> name, RequestParameters p)
    {
        var ollama = route.Family == ApiFamily.Ollama;
        if (name.SequenceEqual("model"u8))
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                throw TypeError("model", "a string");
            }

            if (reader.ValueSpan.Length > MaxModelNameLength * 6)
            {
                throw new InferenceRequestException(RequestErrorKind.InvalidValue, "model", "The model name is too long.");
            }

            var model = reader.GetString()!;
            if (model.Length > MaxModelNameLength || model.Any(char.IsControl))
            {
                throw new InferenceRequestException(RequestErrorKind.InvalidValue, "model",
                    $"The model name must be at most {MaxModelNameLength} characters without control characters.");
            }

            p.Model = model;
            return Tag.Other;
        }

        if (name.SequenceEqual("stream"u8))
        {
            p.Stream = ReadBool(ref reader, "stream");
            return Tag.Other;
        }

        if (name.SequenceEqual("stream_options"u8))
        {
            p.StreamOptionsValue = ValueSpan(ref reader);
            p.StreamOptionsIsObject = reader.TokenType == JsonTokenType.StartObject;
            return ExpectObjectOrNull(ref reader, "stream_options", Tag.StreamOptions);
        }

        if (name.SequenceEqual("max_tokens"u8) && !ollama)
        {
            p.MaxTokens = ReadInteger(ref reader, "max_tokens", min: 1);
            p.MaxTokensValue = ValueSpan(ref reader);
            return Tag.Other;
        }

        if (name.SequenceEqual("max_completion_tokens"u8) && !ollama)
        {
            p.MaxCompletionTokens = ReadInteger(ref reader, "max_completion_tokens", min: 1);
            p.MaxCompletionTokensValue = ValueSpan(ref reader);
            return Tag.Other;
        }

        if (name.SequenceEqual("n"u8) && !ollama)
        {
            p.N = ReadInteger(ref reader, "n", min: 1);
            return Tag.Other;
        }

        if (name.SequenceEqual("best_of"u8) && !ollama)
        {
            p.BestOf = ReadInteger(ref reader, "best_of", min: 1);
            return Tag.Other;
        }

        if (name.SequenceEqual("logprobs"u8))
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.True:
                    p.LogprobsRequested = true;
                    break;
                case JsonTokenType.False:
                case JsonTokenType.Null:
                    break;
                case JsonTokenType.Number:
                    // Legacy completions: logprobs is the number of top log probabilities.
                    var n = ReadInteger(ref reader, "logprobs", min: 0);
                    if (n > 0)
                    {
                        p.LogprobsRequested = true;
                        p.TopLogprobs = Math.Max(p.TopLogprobs ?? 0, n!.Value);
                    }

                    break;
                default:
                    throw TypeError("logprobs", "a boolean or an integer");
            }

            return Tag.Other;
        }

        if (name.SequenceEqual("top_logprobs"u8))
        {
            var n = ReadInteger(ref reader, "top_logprobs", min: 0);
            if (n is { } value)
            {
                p.TopLogprobs = Math.Max(p.TopLogprobs ?? 0, value);
            }

            return Tag.Other;
        }

        if (name.SequenceEqual("logit_bias"u8))
        {
            return ExpectObjectOrNull(ref reader, "logit_bias", Tag.LogitBias);
        }

        // keep_alive on every route: Ollama's OpenAI-compatible endpoints may read it too; others ignore it.
        if (name.SequenceEqual("keep_alive"u8))
        {
            KeepAlive(ref reader, p);
            return Tag.Other;
        }

        if (name.SequenceEqual("options"u8) && ollama)
        {
            p.OptionsValue = ValueSpan(ref reader);
            p.OptionsIsObject = reader.TokenType == JsonTokenType.StartObject;
            return ExpectObjectOrNull(ref reader, "options", Tag.Options);
        }

        if (name.SequenceEqual("raw"u8) && ollama)
        {
            p.Raw = ReadBool(ref reader, "raw") ?? false;
            return Tag.Other;
        }

        if (name.SequenceEqual("template"u8) && ollama)
        {
            p.HasTemplate = ReadNonEmptyString(ref reader, "template", p);
            return Tag.Other;
        }

        if (name.SequenceEqual("system"u8) && ollama)
        {
            p.HasSystemOverride = ReadNonEmptyString(ref reader, "system", p);
            return Tag.Other;
        }

        if (name.SequenceEqual("images"u8) && ollama)
        {
            return ExpectArrayOrNull(ref reader, "images", Tag.Images);
        }

        if (name.SequenceEqual("messages"u8))
        {
            return ExpectArrayOrNull(ref reader, "messages", Tag.Messages);
        }

        if (name.SequenceEqual("prompt"u8) || name.SequenceEqual("input"u8) || name.SequenceEqual("suffix"u8))
        {
            return reader.TokenType switch
            {
                JsonTokenType.String => AddText(ref reader, p),
                JsonTokenType.StartArray => Tag.TextArray,
                _ => Tag.Other,
            };
        }

        return Tag.Other;
    }

    private static Tag ElementValue(ref Utf8JsonReader reader, Tag parent, RequestParameters p, RequestLimits limits)
    {
        switch (parent)
        {
            case Tag.Messages:
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    throw TypeError("messages[]", "an object");
                }

                if (++p.MessageCount > limits.MaxMessages)
                {
                    throw new InferenceRequestException(RequestErrorKind.TooLarge, "messages",
                        $"The request has more than {limits.MaxMessages} messages.");
                }

                return Tag.Message;

            case Tag.MessageContent:
                return reader.TokenType == JsonTokenType.StartObject ? Tag.ContentPart : Tag.Other;

            case Tag.Images:
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw TypeError("images[]", "a base64 string");
                }

                p.ImageCount++;
                var raw = reader.ValueSpan.Length;
                p.ImagePayloadBytes += raw;
                p.LargestImageBytes = Math.Max(p.LargestImageBytes, raw * 3L / 4);
                return Tag.Other;

            case Tag.TextArray:
                if (reader.TokenType == JsonTokenType.String)
                {
                    return AddText(ref reader, p);
                }

                return Tag.Other;

            default:
                return Tag.Other;
        }
    }

    private static void ImageUrl(ref Utf8JsonReader reader, RequestParameters p)
    {
        var raw = reader.ValueSpan;
        p.ImagePayloadBytes += raw.Length;
        if (raw.StartsWith("data:"u8))
        {
            var comma = raw.IndexOf((byte)',');
            var payload = comma < 0 ? raw.Length : raw.Length - comma - 1;
            p.LargestImageBytes = Math.Max(p.LargestImageBytes, payload * 3L / 4);
        }
        else
        {
            p.HasRemoteImageUrl = true;
        }
    }

    private static Tag AddText(ref Utf8JsonReader reader, RequestParameters p)
    {
        p._textRanges.Add(new TextRange((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length, reader.ValueIsEscaped));
        return Tag.Other;
    }

    private static bool ReadNonEmptyString(ref Utf8JsonReader reader, string parameter, RequestParameters p)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return false;
            case JsonTokenType.String:
                AddText(ref reader, p);
                return reader.ValueSpan.Length > 0;
            default:
                throw TypeError(parameter, "a string");
        }
    }

    private static void KeepAlive(ref Utf8JsonReader reader, RequestParameters p)
    {
        p.KeepAliveValue = ValueSpan(ref reader);
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                p.KeepAliveValue = BodySpan.None;
                return;

            case JsonTokenType.Number:
                // Ollama (api.Duration): a number is seconds; negative means forever.
                if (!reader.TryGetDouble(out var seconds) || !double.IsFinite(seconds))
                {
                    throw new InferenceRequestException(RequestErrorKind.InvalidValue, "keep_alive", "'keep_alive' is not a valid number of seconds.");
                }

                p.HasKeepAlive = true;
                if (seconds < 0)
                {
                    p.KeepAliveForever = true;
                }
                else
                {
                    p.KeepAlive = seconds > TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(seconds);
                }

                return;

            case JsonTokenType.String:
                if (reader.ValueIsEscaped || !GoDuration.TryParse(reader.ValueSpan, out var duration))
                {
                    throw new InferenceRequestException(RequestErrorKind.InvalidValue, "keep_alive",
                        "'keep_alive' must be a duration such as \"5m\" or \"1h30m\", or a number of seconds.");
                }

                p.HasKeepAlive = true;
                if (duration < TimeSpan.Zero)
                {
                    p.KeepAliveForever = true;
                }
                else
                {
                    p.KeepAlive = duration;
                }

                return;

            default:
                throw TypeError("keep_alive", "a duration string or a number of seconds");
        }
    }

    private static readonly byte[][] s_recognised =
    [
        .. new[]
        {
            "model", "stream", "stream_options", "include_usage", "max_tokens", "max_completion_tokens", "n", "best_of",
            "logprobs", "top_logprobs", "logit_bias", "keep_alive", "options", "num_predict", "num_ctx", "num_gpu",
            "main_gpu", "num_thread", "num_batch", "use_mmap", "use_mlock", "low_vram", "numa", "vocab_only", "raw",
            "template", "system", "images", "messages", "content", "text", "image_url", "url", "prompt", "input", "suffix",
        }.Select(System.Text.Encoding.ASCII.GetBytes),
    ];

    private static bool IsRecognised(ReadOnlySpan<byte> folded)
    {
        foreach (var name in s_recognised)
        {
            if (folded.SequenceEqual(name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Folds a key like Go's encoding/json matches field names: ASCII letters to lower case, U+017F (ſ) to 's',
    /// U+212A (Kelvin sign) to 'k'; other bytes unchanged. Returns <paramref name="name"/> itself when nothing changes.
    /// </summary>
    internal static ReadOnlySpan<byte> Fold(ReadOnlySpan<byte> name, Span<byte> buffer)
    {
        var changed = false;
        var n = 0;
        for (var i = 0; i < name.Length; i++)
        {
            var b = name[i];
            if (b is >= (byte)'A' and <= (byte)'Z')
            {
                buffer[n++] = (byte)(b | 0x20);
                changed = true;
            }
            else if (b == 0xC5 && i + 1 < name.Length && name[i + 1] == 0xBF)
            {
                buffer[n++] = (byte)'s';
                i++;
                changed = true;
            }
            else if (b == 0xE2 && i + 2 < name.Length && name[i + 1] == 0x84 && name[i + 2] == 0xAA)
            {
                buffer[n++] = (byte)'k';
                i += 2;
                changed = true;
            }
            else
            {
                buffer[n++] = b;
            }
        }

        return changed ? buffer[..n] : name;
    }

    private static bool IsHardwareOption(ReadOnlySpan<byte> name) =>
        name.SequenceEqual("num_gpu"u8) || name.SequenceEqual("main_gpu"u8) || name.SequenceEqual("num_thread"u8)
        || name.SequenceEqual("num_batch"u8) || name.SequenceEqual("use_mmap"u8) || name.SequenceEqual("use_mlock"u8)
        || name.SequenceEqual("low_vram"u8) || name.SequenceEqual("numa"u8) || name.SequenceEqual("vocab_only"u8);

    /// <summary>An integer parameter: null for JSON null; refuses strings, booleans, fractions, exponents and values below <paramref name="min"/>.</summary>
    private static long? ReadInteger(ref Utf8JsonReader reader, string parameter, long min)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.Number:
                // TryGetInt64 fails for "1.0", "1e3" and anything outside Int64: all refused, never rounded.
                if (!reader.TryGetInt64(out var value))
                {
                    var isInteger = reader.ValueSpan.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0;
                    throw new InferenceRequestException(RequestErrorKind.InvalidValue, parameter, isInteger
                        ? $"'{parameter}' is out of range."
                        : $"'{parameter}' must be an integer.");
                }

                if (value < min)
                {
                    throw new InferenceRequestException(RequestErrorKind.InvalidValue, parameter,
                        $"'{parameter}' must be at least {min}.");
                }

                return value;
            case JsonTokenType.String:
                throw new InferenceRequestException(RequestErrorKind.InvalidType, parameter,
                    $"'{parameter}' must be an integer, not a string.");
            default:
                throw TypeError(parameter, "an integer");
        }
    }

    private static bool? ReadBool(ref Utf8JsonReader reader, string parameter) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.Null => null,
        _ => throw TypeError(parameter, "a boolean"),
    };

    private static Tag ExpectObjectOrNull(ref Utf8JsonReader reader, string parameter, Tag tag) => reader.TokenType switch
    {
        JsonTokenType.StartObject => tag,
        JsonTokenType.Null => Tag.Other,
        _ => throw TypeError(parameter, "an object"),
    };

    private static Tag ExpectArrayOrNull(ref Utf8JsonReader reader, string parameter, Tag tag) => reader.TokenType switch
    {
        JsonTokenType.StartArray => tag,
        JsonTokenType.Null => Tag.Other,
        _ => throw TypeError(parameter, "an array"),
    };

    /// <summary>The byte span of a scalar value, or the start of a container value (length 1: its opening bracket).</summary>
    private static BodySpan ValueSpan(ref Utf8JsonReader reader)
    {
        var start = (int)reader.TokenStartIndex;
        return new BodySpan(start, (int)reader.BytesConsumed - start);
    }

    private static InferenceRequestException TypeError(string parameter, string expected) =>
        new(RequestErrorKind.InvalidType, parameter, $"'{parameter}' must be {expected}.");

    private static string Describe(Tag tag, ReadOnlySpan<byte> name) => tag switch
    {
        Tag.Root => Printable(name),
        Tag.Options => "options." + Printable(name),
        Tag.StreamOptions => "stream_options." + Printable(name),
        _ => Printable(name),
    };

    /// <summary>A property name safe to put in an error message: ASCII printable, truncated.</summary>
    private static string Printable(ReadOnlySpan<byte> name)
    {
        Span<char> chars = stackalloc char[Math.Min(name.Length, 64)];
        for (var i = 0; i < chars.Length; i++)
        {
            var b = name[i];
            chars[i] = b is >= 0x20 and < 0x7f and not (byte)'\'' ? (char)b : '?';
        }

        return new string(chars);
    }
}

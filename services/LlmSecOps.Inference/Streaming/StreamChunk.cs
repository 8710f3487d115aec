using System.Text.Json;
using LlmSecOps.Inference.Parameters;

namespace LlmSecOps.Inference.Streaming;

/// <summary>A piece of generated text inside a chunk's JSON: which choice, and where its string value lies.</summary>
/// <param name="Choice">Choice index (OpenAI <c>n</c> &gt; 1 interleaves choices; Ollama is always 0).</param>
/// <param name="Start">Byte offset of the string token's opening quote in the chunk JSON.</param>
/// <param name="Length">Byte length of the whole string token, quotes included.</param>
public readonly record struct ContentPiece(int Choice, int Start, int Length)
{
    /// <summary>Decodes the text from the chunk JSON it was found in.</summary>
    public string GetText(ReadOnlySpan<byte> json) => JsonText.Decode(json.Slice(Start + 1, Length - 2));
}

/// <summary>
/// What one streamed chunk (an SSE event's data or an NDJSON line) says. Reused by its parser: valid until the
/// parser's next call.
/// </summary>
public sealed class StreamChunk
{
    internal readonly List<ContentPiece> _content = [];
    internal readonly List<int> _finishedChoices = [];

    /// <summary>Choice indexes that carry a finish_reason in this chunk (Ollama's done line: choice 0).</summary>
    public IReadOnlyList<int> FinishedChoices => _finishedChoices;

    /// <summary>Text pieces (OpenAI <c>choices[].delta.content</c> / <c>choices[].text</c>; Ollama <c>message.content</c> / <c>response</c>).</summary>
    public IReadOnlyList<ContentPiece> Content => _content;

    /// <summary>UTF-8 bytes of other generated output that is not redacted text (tool-call arguments, reasoning/thinking).</summary>
    public int OtherOutputBytes { get; internal set; }

    /// <summary>True for SSE <c>data: [DONE]</c>.</summary>
    public bool IsDoneMarker { get; internal set; }

    /// <summary>True for Ollama's final line (<c>"done": true</c>).</summary>
    public bool Done { get; internal set; }

    /// <summary>finish_reason (OpenAI, first non-null) or done_reason (Ollama).</summary>
    public string? FinishReason { get; internal set; }

    /// <summary>Prompt tokens reported (<c>usage.prompt_tokens</c> / <c>prompt_eval_count</c>).</summary>
    public long? PromptTokens { get; internal set; }

    /// <summary>Completion tokens reported (<c>usage.completion_tokens</c> / <c>eval_count</c>).</summary>
    public long? CompletionTokens { get; internal set; }

    /// <summary>An error the upstream put in the stream, if any.</summary>
    public string? Error { get; internal set; }

    /// <summary>True when the chunk was not JSON of the expected shape.</summary>
    public bool Malformed { get; internal set; }

    internal void Reset()
    {
        _content.Clear();
        _finishedChoices.Clear();
        OtherOutputBytes = 0;
        IsDoneMarker = false;
        Done = false;
        FinishReason = null;
        PromptTokens = null;
        CompletionTokens = null;
        Error = null;
        Malformed = false;
    }

    /// <summary>
    /// Returns <paramref name="json"/> with each content piece replaced by <paramref name="replacement"/>(piece): the
    /// rest of the chunk is copied byte for byte. Used to forward redacted text.
    /// </summary>
    public byte[] ReplaceContent(ReadOnlySpan<byte> json, Func<ContentPiece, string> replacement)
    {
        using var output = new MemoryStream(json.Length + 16);
        var read = 0;
        foreach (var piece in _content)
        {
            output.Write(json[read..piece.Start]);
            WriteJsonString(output, replacement(piece));
            read = piece.Start + piece.Length;
        }

        output.Write(json[read..]);
        return output.ToArray();
    }

    internal static void WriteJsonString(Stream output, string value)
    {
        using var writer = new Utf8JsonWriter(output);
        writer.WriteStringValue(value);
        writer.Flush();
    }
}

/// <summary>Parses OpenAI chat/completions stream chunks (the JSON of each SSE <c>data:</c>).</summary>
public sealed class OpenAiChunkParser
{
    private readonly StreamChunk _chunk = new();

    /// <summary>Parses one event's data. Never throws on bad JSON: sets <see cref="StreamChunk.Malformed"/>.</summary>
    public StreamChunk Parse(ReadOnlySpan<byte> data)
    {
        _chunk.Reset();
        var trimmed = data.Trim(" \t\r\n"u8);
        if (trimmed.SequenceEqual("[DONE]"u8))
        {
            _chunk.IsDoneMarker = true;
            return _chunk;
        }

        try
        {
            ParseJson(data);
        }
        catch (JsonException)
        {
            _chunk.Reset();
            _chunk.Malformed = true;
        }
        catch (InvalidOperationException)
        {
            _chunk.Reset();
            _chunk.Malformed = true;
        }

        return _chunk;
    }

    private void ParseJson(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data, new JsonReaderOptions { MaxDepth = 64 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            _chunk.Malformed = true;
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("choices"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                    {
                        Choice(ref reader);
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("prompt_tokens"u8))
                        {
                            reader.Read();
                            _chunk.PromptTokens = ReadCount(ref reader);
                        }
                        else if (reader.ValueTextEquals("completion_tokens"u8))
                        {
                            reader.Read();
                            _chunk.CompletionTokens = ReadCount(ref reader);
                        }
                        else
                        {
                            reader.Read();
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                _chunk.Error = ReadError(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private void Choice(ref Utf8JsonReader reader)
    {
        var index = 0;
        var finished = false;
        var pieceStart = _chunk._content.Count;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                index = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var i) ? i : 0;
            }
            else if (reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                AddContent(ref reader);
            }
            else if (reader.ValueTextEquals("delta"u8) || reader.ValueTextEquals("message"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("content"u8))
                    {
                        reader.Read();
                        AddContent(ref reader);
                    }
                    else
                    {
                        // role is not generated output; tool_calls, reasoning_content and the like are.
                        var isRole = reader.ValueTextEquals("role"u8);
                        reader.Read();
                        var start = reader.TokenStartIndex;
                        reader.Skip();
                        if (!isRole && reader.TokenType != JsonTokenType.Null)
                        {
                            _chunk.OtherOutputBytes += (int)(reader.BytesConsumed - start);
                        }
                    }
                }
            }
            else if (reader.ValueTextEquals("finish_reason"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    _chunk.FinishReason ??= reader.GetString();
                    finished = true;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        for (var p = pieceStart; p < _chunk._content.Count; p++)
        {
            _chunk._content[p] = _chunk._content[p] with { Choice = index };
        }

        if (finished)
        {
            _chunk._finishedChoices.Add(index);
        }
    }

    private void AddContent(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var start = (int)reader.TokenStartIndex;
            _chunk._content.Add(new ContentPiece(0, start, (int)reader.BytesConsumed - start));
        }
        else
        {
            reader.Skip();
        }
    }

    internal static long? ReadCount(ref Utf8JsonReader reader) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var v) && v >= 0 ? v : null;

    internal static string ReadError(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString() ?? "error";
            case JsonTokenType.StartObject:
                string? message = null;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isMessage = reader.ValueTextEquals("message"u8);
                    reader.Read();
                    if (isMessage && reader.TokenType == JsonTokenType.String)
                    {
                        message = reader.GetString();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                return message ?? "error";
            default:
                reader.Skip();
                return "error";
        }
    }
}

/// <summary>Parses Ollama <c>/api/chat</c> and <c>/api/generate</c> NDJSON stream lines.</summary>
public sealed class OllamaChunkParser
{
    private readonly StreamChunk _chunk = new();

    /// <summary>Parses one line. Never throws on bad JSON: sets <see cref="StreamChunk.Malformed"/>.</summary>
    public StreamChunk Parse(ReadOnlySpan<byte> line)
    {
        _chunk.Reset();
        try
        {
            ParseJson(line);
        }
        catch (JsonException)
        {
            _chunk.Reset();
            _chunk.Malformed = true;
        }
        catch (InvalidOperationException)
        {
            _chunk.Reset();
            _chunk.Malformed = true;
        }

        return _chunk;
    }

    private void ParseJson(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 64 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            _chunk.Malformed = true;
            return;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("response"u8))
            {
                reader.Read();
                AddContent(ref reader);
            }
            else if (reader.ValueTextEquals("message"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    if (reader.ValueTextEquals("content"u8))
                    {
                        reader.Read();
                        AddContent(ref reader);
                    }
                    else
                    {
                        var isRole = reader.ValueTextEquals("role"u8);
                        reader.Read();
                        var start = reader.TokenStartIndex;
                        reader.Skip();
                        if (!isRole && reader.TokenType != JsonTokenType.Null)
                        {
                            _chunk.OtherOutputBytes += (int)(reader.BytesConsumed - start);
                        }
                    }
                }
            }
            else if (reader.ValueTextEquals("thinking"u8))
            {
                reader.Read();
                var start = reader.TokenStartIndex;
                reader.Skip();
                _chunk.OtherOutputBytes += (int)(reader.BytesConsumed - start);
            }
            else if (reader.ValueTextEquals("done"u8))
            {
                reader.Read();
                _chunk.Done = reader.TokenType == JsonTokenType.True;
                if (_chunk.Done)
                {
                    _chunk._finishedChoices.Add(0);
                }
            }
            else if (reader.ValueTextEquals("done_reason"u8))
            {
                reader.Read();
                _chunk.FinishReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("prompt_eval_count"u8))
            {
                reader.Read();
                _chunk.PromptTokens = OpenAiChunkParser.ReadCount(ref reader);
            }
            else if (reader.ValueTextEquals("eval_count"u8))
            {
                reader.Read();
                _chunk.CompletionTokens = OpenAiChunkParser.ReadCount(ref reader);
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                _chunk.Error = OpenAiChunkParser.ReadError(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private void AddContent(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var start = (int)reader.TokenStartIndex;
            _chunk._content.Add(new ContentPiece(0, start, (int)reader.BytesConsumed - start));
        }
        else
        {
            reader.Skip();
        }
    }
}

/// <summary>The final error frames of ARCHITECTURE.md, so a cut stream is never a silent truncation.</summary>
public static class StreamErrorFrames
{
    /// <summary>SSE: <c>data: {"error":{"message","type","code"}}</c> then <c>data: [DONE]</c>.</summary>
    public static byte[] OpenAiSse(string message, string type, string? code)
    {
        using var output = new MemoryStream();
        output.Write("data: "u8);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("message", message);
            writer.WriteString("type", type);
            if (code is null)
            {
                writer.WriteNull("code");
            }
            else
            {
                writer.WriteString("code", code);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        output.Write("\n\ndata: [DONE]\n\n"u8);
        return output.ToArray();
    }

    /// <summary>NDJSON: <c>{"error":"...","done":true}</c> and a newline.</summary>
    public static byte[] OllamaNdjson(string message)
    {
        using var output = new MemoryStream();
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("error", message);
            writer.WriteBoolean("done", true);
            writer.WriteEndObject();
        }

        output.Write("\n"u8);
        return output.ToArray();
    }

    /// <summary>The SSE framing of one data payload: <c>data: {json}</c> and a blank line.</summary>
    public static byte[] SseEvent(ReadOnlySpan<byte> data)
    {
        var output = new byte[6 + data.Length + 2];
        "data: "u8.CopyTo(output);
        data.CopyTo(output.AsSpan(6));
        output[^2] = (byte)'\n';
        output[^1] = (byte)'\n';
        return output;
    }
}

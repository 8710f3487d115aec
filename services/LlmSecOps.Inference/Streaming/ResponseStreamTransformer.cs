using System.Buffers;
using System.Text.Json;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Streaming;

/// <summary>Why a transformed stream ended early.</summary>
public enum StreamEnd
{
    /// <summary>Still running, or ended properly.</summary>
    None,

    /// <summary>The completion-token limit (what remains of the budget reservation) was reached.</summary>
    BudgetExhausted,

    /// <summary>The upstream put an error in the stream.</summary>
    UpstreamError,

    /// <summary>The upstream broke the protocol (unparseable chunk while redacting, oversized event).</summary>
    ProtocolError,

    /// <summary>The upstream closed the connection before the end marker.</summary>
    Truncated,
}

/// <summary>
/// Turns an upstream OpenAI SSE or Ollama NDJSON response stream into what the client receives, chunk by chunk,
/// without buffering the response: counts tokens as they flow (<see cref="Accounting"/>), redacts generated text
/// with one <see cref="StreamingRedactor"/> per choice (holding back only a tail that could begin a secret), stops
/// when a completion-token limit is reached, and ends every cut-short stream with the final error frame of its
/// format (never a silent truncation). Not thread-safe: one per response.
/// </summary>
public sealed class ResponseStreamTransformer : IDisposable
{
    private readonly InferenceRoute _route;
    private readonly IReadOnlyList<Detector>? _detectors;
    private readonly long? _completionTokenLimit;
    private readonly SseEventReader? _sse;
    private readonly NdjsonLineReader? _ndjson;
    private readonly OpenAiChunkParser _openAi = new();
    private readonly OllamaChunkParser _ollama = new();
    private readonly Dictionary<int, StreamingRedactor> _redactors = [];
    private readonly Dictionary<int, string> _emitted = [];

    /// <param name="route">The canonical route (decides the format: /v1 is SSE, /api is NDJSON).</param>
    /// <param name="redaction">Detectors for output redaction, or null for none.</param>
    /// <param name="completionTokenLimit">Stop once this many completion tokens have been produced (null: no limit).</param>
    /// <param name="maxEventBytes">Largest upstream event or line accepted.</param>
    public ResponseStreamTransformer(InferenceRoute route, IReadOnlyList<Detector>? redaction, long? completionTokenLimit, int maxEventBytes = 1024 * 1024)
    {
        _route = route;
        _detectors = redaction;
        _completionTokenLimit = completionTokenLimit;
        if (route.Family == ApiFamily.OpenAi)
        {
            _sse = new SseEventReader(maxEventBytes);
        }
        else
        {
            _ndjson = new NdjsonLineReader(maxEventBytes);
        }
    }

    /// <summary>Tokens and finish reason so far.</summary>
    public StreamAccounting Accounting { get; } = new();

    /// <summary>Why the stream ended early, if it did.</summary>
    public StreamEnd EndedBy { get; private set; }

    /// <summary>True once the stream is over (end marker forwarded or an error frame written).</summary>
    public bool IsFinished { get; private set; }

    /// <summary>Processes bytes from the upstream; writes what the client should receive now. False once the stream is over.</summary>
    public bool Process(ReadOnlySpan<byte> upstream, IBufferWriter<byte> output)
    {
        if (IsFinished)
        {
            return false;
        }

        try
        {
            if (_sse is not null)
            {
                _sse.Append(upstream);
                while (!IsFinished && _sse.TryRead(out var data))
                {
                    HandleOpenAi(data, output);
                }
            }
            else
            {
                _ndjson!.Append(upstream);
                while (!IsFinished && _ndjson.TryRead(out var line))
                {
                    HandleOllama(line, output);
                }
            }
        }
        catch (StreamProtocolException)
        {
            End(StreamEnd.ProtocolError, "The upstream sent a malformed stream.", output);
        }

        return !IsFinished;
    }

    /// <summary>The upstream closed the stream: releases held text and, when the end marker never came, writes the error frame.</summary>
    public void Complete(IBufferWriter<byte> output)
    {
        if (IsFinished)
        {
            return;
        }

        if (_ndjson is not null && _ndjson.TryReadRemainder(out var last))
        {
            HandleOllama(last, output);
            if (IsFinished)
            {
                return;
            }
        }

        End(StreamEnd.Truncated, "The upstream ended the stream early.", output);
    }

    /// <summary>Ends the stream now with an error frame (e.g. the upstream connection failed).</summary>
    public void Fail(string message, IBufferWriter<byte> output)
    {
        if (!IsFinished)
        {
            End(StreamEnd.UpstreamError, message, output);
        }
    }

    private void HandleOpenAi(ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        var chunk = _openAi.Parse(data);
        if (chunk.IsDoneMarker)
        {
            FlushAll(output);
            Accounting.Observe(chunk, data);
            output.Write("data: [DONE]\n\n"u8);
            IsFinished = true;
            return;
        }

        if (chunk.Malformed && _detectors is not null)
        {
            End(StreamEnd.ProtocolError, "The upstream sent a chunk that could not be inspected.", output);
            return;
        }

        if (!Observe(chunk, data, output))
        {
            return;
        }

        output.Write("data: "u8);
        output.Write(Rewrite(chunk, data));
        output.Write("\n\n"u8);
    }

    private void HandleOllama(ReadOnlySpan<byte> line, IBufferWriter<byte> output)
    {
        var chunk = _ollama.Parse(line);
        if (chunk.Malformed && _detectors is not null)
        {
            End(StreamEnd.ProtocolError, "The upstream sent a line that could not be inspected.", output);
            return;
        }

        if (!Observe(chunk, line, output))
        {
            return;
        }

        output.Write(Rewrite(chunk, line));
        output.Write("\n"u8);
        if (chunk.Done)
        {
            IsFinished = true;
        }
    }

    /// <summary>Accounts for a chunk; false (and the stream ended) on an upstream error or an exhausted limit.</summary>
    private bool Observe(StreamChunk chunk, ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        Accounting.Observe(chunk, json);
        if (chunk.Error is { } error)
        {
            End(StreamEnd.UpstreamError, "The upstream failed: " + Truncate(error), output);
            return false;
        }

        // Cut only when the upstream has certainly run past the limit: the lower bound of tokens seen (one per chunk)
        // exceeds it. The byte-based estimate is larger than the real count for ordinary words (" small" is 6 bytes,
        // one token), so checking it cut every stream that stopped at its own max_tokens (found by the benchmark).
        if (_completionTokenLimit is { } limit && Accounting.ReportedCompletionTokens is null && Accounting.MinimumCompletionTokens > limit)
        {
            End(StreamEnd.BudgetExhausted, "Token budget exhausted; the response was cut short.", output);
            return false;
        }

        return true;
    }

    /// <summary>The chunk with its text redacted; held text of finishing choices released into it.</summary>
    private ReadOnlySpan<byte> Rewrite(StreamChunk chunk, ReadOnlySpan<byte> json)
    {
        if (_detectors is null)
        {
            return json;
        }

        _emitted.Clear();
        foreach (var piece in chunk.Content)
        {
            var text = Redactor(piece.Choice).Push(piece.GetText(json));
            _emitted[piece.Choice] = _emitted.GetValueOrDefault(piece.Choice) + text;
        }

        var extra = new List<(int Choice, string Text)>();
        foreach (var choice in chunk.FinishedChoices)
        {
            if (_redactors.TryGetValue(choice, out var redactor))
            {
                var rest = redactor.Flush();
                if (chunk.Content.Any(p => p.Choice == choice))
                {
                    _emitted[choice] = _emitted.GetValueOrDefault(choice) + rest;
                }
                else if (rest.Length > 0)
                {
                    extra.Add((choice, rest));
                }
            }
        }

        var seen = new HashSet<int>();
        var rewritten = chunk.Content.Count == 0 ? json.ToArray() : chunk.ReplaceContent(json, p => seen.Add(p.Choice) ? _emitted[p.Choice] : string.Empty);
        if (extra.Count == 0)
        {
            return rewritten;
        }

        // Held text of a choice that finishes in a chunk without text: send it in its own chunk first.
        using var buffer = new MemoryStream();
        foreach (var (choice, text) in extra)
        {
            WriteContentChunk(buffer, choice, text);
            buffer.Write(_sse is not null ? "\n\ndata: "u8 : "\n"u8);
        }

        buffer.Write(rewritten);
        return buffer.ToArray();
    }

    private StreamingRedactor Redactor(int choice)
    {
        if (!_redactors.TryGetValue(choice, out var redactor))
        {
            redactor = new StreamingRedactor(_detectors);
            _redactors[choice] = redactor;
        }

        return redactor;
    }

    private void FlushAll(IBufferWriter<byte> output)
    {
        foreach (var (choice, redactor) in _redactors.OrderBy(r => r.Key))
        {
            var rest = redactor.Flush();
            if (rest.Length == 0)
            {
                continue;
            }

            using var buffer = new MemoryStream();
            if (_sse is not null)
            {
                buffer.Write("data: "u8);
            }

            WriteContentChunk(buffer, choice, rest);
            buffer.Write(_sse is not null ? "\n\n"u8 : "\n"u8);
            output.Write(buffer.ToArray());
        }
    }

    private void WriteContentChunk(Stream stream, int choice, string text)
    {
        using var writer = new Utf8JsonWriter(stream);
        writer.WriteStartObject();
        switch (_route.Id)
        {
            case EndpointId.OpenAiCompletions:
                writer.WriteString("object", "text_completion");
                writer.WriteStartArray("choices");
                writer.WriteStartObject();
                writer.WriteNumber("index", choice);
                writer.WriteString("text", text);
                writer.WriteNull("finish_reason");
                writer.WriteEndObject();
                writer.WriteEndArray();
                break;
            case EndpointId.OllamaGenerate:
                writer.WriteString("response", text);
                writer.WriteBoolean("done", false);
                break;
            case EndpointId.OllamaChat:
                writer.WriteStartObject("message");
                writer.WriteString("role", "assistant");
                writer.WriteString("content", text);
                writer.WriteEndObject();
                writer.WriteBoolean("done", false);
                break;
            default:
                writer.WriteString("object", "chat.completion.chunk");
                writer.WriteStartArray("choices");
                writer.WriteStartObject();
                writer.WriteNumber("index", choice);
                writer.WriteStartObject("delta");
                writer.WriteString("content", text);
                writer.WriteEndObject();
                writer.WriteNull("finish_reason");
                writer.WriteEndObject();
                writer.WriteEndArray();
                break;
        }

        writer.WriteEndObject();
    }

    private void End(StreamEnd reason, string message, IBufferWriter<byte> output)
    {
        // Text already generated within the limit is released (redacted) before the error frame.
        if (reason != StreamEnd.ProtocolError)
        {
            FlushAll(output);
        }

        EndedBy = reason;
        IsFinished = true;
        output.Write(_sse is not null
            ? StreamErrorFrames.OpenAiSse(message, reason == StreamEnd.BudgetExhausted ? "insufficient_quota" : "upstream_error",
                reason == StreamEnd.BudgetExhausted ? "insufficient_quota" : "upstream_error")
            : StreamErrorFrames.OllamaNdjson(message));
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200];

    public void Dispose()
    {
        _sse?.Dispose();
        _ndjson?.Dispose();
    }
}

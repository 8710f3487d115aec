using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using LlmSecOps.Simulator.Generation;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.Ollama;

/// <summary>
/// Ollama's inference routes (docs/api.md): <c>POST /api/chat</c>, <c>/api/generate</c>, <c>/api/embed</c> and the
/// older <c>/api/embeddings</c>. Streaming is the default (NDJSON, one token per line); <c>"stream": false</c> answers one object.
/// </summary>
internal static class OllamaInferenceEndpoints
{
    private const string NdjsonContentType = "application/x-ndjson";

    public static void MapOllamaInference(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/chat", (HttpContext context) => GenerateAsync(context, chat: true));
        app.MapPost("/api/generate", (HttpContext context) => GenerateAsync(context, chat: false));
        app.MapPost("/api/embed", EmbedAsync);
        app.MapPost("/api/embeddings", LegacyEmbeddingsAsync);
    }

    private static async Task GenerateAsync(HttpContext context, bool chat)
    {
        var start = Stopwatch.GetTimestamp();
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        var time = context.RequestServices.GetRequiredService<TimeProvider>();
        using var document = JsonInput.Parse(context, out var parseError);
        if (document is null)
        {
            await ApiErrors.OllamaAsync(context, 400, parseError!);
            return;
        }

        var root = document.RootElement;
        var requestedName = OllamaRequests.ModelName(root);
        var model = await OllamaRequests.ResolveModelAsync(context, state, requestedName);
        if (model is null)
        {
            return;
        }

        if (model.IsEmbedding)
        {
            await ApiErrors.OllamaAsync(context, 400, $"\"{requestedName}\" does not support {(chat ? "chat" : "generate")}");
            return;
        }

        if (!OllamaRequests.TryReadOptions(root, out var numPredict, out var seed, out var optionsError)
            || !OllamaRequests.TryReadKeepAlive(root, out var keepAlive, out optionsError))
        {
            await ApiErrors.OllamaAsync(context, 400, optionsError!);
            return;
        }

        if (root.GetBool("stream", fallback: true) is not { } stream)
        {
            await ApiErrors.OllamaAsync(context, 400, "json: cannot unmarshal stream into Go struct field of type bool");
            return;
        }

        var prompt = default(PromptFingerprint);
        var empty = chat ? !TryFingerprintMessages(root, ref prompt, out var messagesError) : !TryFingerprintPrompt(root, ref prompt, out messagesError);
        if (messagesError is not null)
        {
            await ApiErrors.OllamaAsync(context, 400, messagesError);
            return;
        }

        OllamaRequests.Touch(state, model, keepAlive, time);
        var reply = new Reply(requestedName!, chat, time);
        if (empty)
        {
            // Ollama answers an empty prompt/messages list by loading (or, with keep_alive 0, unloading) the model.
            var reason = keepAlive == TimeSpan.Zero ? "unload" : "load";
            await JsonOutput.WriteAsync(context, 200, (reply, reason), static (w, s) =>
            {
                s.reply.WriteHead(w);
                s.reply.WriteContent(w, "");
                w.WriteBoolean("done"u8, true);
                w.WriteString("done_reason"u8, s.reason);
                w.WriteEndObject();
            });
            return;
        }

        var run = GenerationRun.Start(context, state, numPredict, start);
        var textSeed = TextGenerator.Seed(model.Name, prompt, seed, 0);
        var promptTokens = prompt.Tokens;
        // /api/generate returns the (deprecated) "context" token array unless raw is set; chat never does.
        var done = new DoneFields(run, promptTokens, chat || root.GetBool("raw", fallback: false) == true ? null : textSeed);
        if (!stream)
        {
            if (!await run.GenerateAllAsync(openAI: false))
            {
                return;
            }

            var text = run.Text(textSeed);
            await JsonOutput.WriteAsync(context, 200, (reply, text, done), static (w, s) =>
            {
                s.reply.WriteHead(w);
                s.reply.WriteContent(w, s.text);
                s.done.Write(w);
            });
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = NdjsonContentType;
        var output = context.Response.BodyWriter;
        using var writer = JsonOutput.CreateStreamWriter(context);
        for (var i = 0; i < run.Count; i++)
        {
            if (!await run.BeforeTokenAsync(i, StreamFormat.OllamaNdjson))
            {
                return;
            }

            writer.Reset();
            reply.WriteHead(writer);
            reply.WriteContent(writer, run.Token(textSeed, i));
            writer.WriteBoolean("done"u8, false);
            writer.WriteEndObject();
            writer.Flush();
            output.Write("\n"u8);
            await output.FlushAsync(context.RequestAborted);
        }

        if (!await run.BeforeTokenAsync(run.Count, StreamFormat.OllamaNdjson))
        {
            return;
        }

        writer.Reset();
        reply.WriteHead(writer);
        reply.WriteContent(writer, "");
        done.Write(writer);
        writer.Flush();
        output.Write("\n"u8);
        await output.FlushAsync(context.RequestAborted);
    }

    /// <summary>The final fields of an Ollama generation (durations in nanoseconds), closing the object.</summary>
    /// <param name="Run">The generation.</param>
    /// <param name="PromptTokens">Prompt tokens counted.</param>
    /// <param name="ContextSeed">When set, a <c>context</c> array is written: one synthetic token id per prompt and completion token.</param>
    private readonly record struct DoneFields(GenerationRun Run, int PromptTokens, ulong? ContextSeed)
    {
        public void Write(Utf8JsonWriter w)
        {
            w.WriteBoolean("done"u8, true);
            w.WriteString("done_reason"u8, Run.FinishReason);
            if (ContextSeed is { } seed)
            {
                w.WriteStartArray("context"u8);
                for (var i = 0; i < PromptTokens + Run.Count; i++)
                {
                    w.WriteNumberValue((int)(SplitMix.Mix(seed + (ulong)i) % 128_256)); // llama3's vocabulary size
                }

                w.WriteEndArray();
            }

            w.WriteNumber("total_duration"u8, Run.TotalNanoseconds);
            w.WriteNumber("load_duration"u8, 1);
            w.WriteNumber("prompt_eval_count"u8, PromptTokens);
            w.WriteNumber("prompt_eval_duration"u8, Run.PromptEvalNanoseconds);
            w.WriteNumber("eval_count"u8, Run.Count);
            w.WriteNumber("eval_duration"u8, Run.EvalNanoseconds);
            w.WriteEndObject();
        }
    }

    /// <summary>messages[]: role and content of each; images and tool calls do not change the text. Returns false when empty.</summary>
    private static bool TryFingerprintMessages(JsonElement root, ref PromptFingerprint prompt, out string? error)
    {
        error = null;
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        if (messages.ValueKind != JsonValueKind.Array)
        {
            error = "json: cannot unmarshal " + messages.ValueKind.ToString().ToLowerInvariant() + " into Go struct field ChatRequest.messages of type []api.Message";
            return false;
        }

        var any = false;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
            {
                error = "json: cannot unmarshal " + message.ValueKind.ToString().ToLowerInvariant() + " into Go struct field ChatRequest.messages of type api.Message";
                return false;
            }

            if (message.TryGetProperty("content", out var content) && content.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                error = "json: cannot unmarshal " + content.ValueKind.ToString().ToLowerInvariant() + " into Go struct field Message.messages.content of type string";
                return false;
            }

            prompt.Add(message.GetString("role"), counts: false);
            prompt.Add(message.GetString("content"));
            any = true;
        }

        return any;
    }

    /// <summary>system + prompt (+ suffix) of /api/generate. Returns false when the prompt is empty.</summary>
    private static bool TryFingerprintPrompt(JsonElement root, ref PromptFingerprint prompt, out string? error)
    {
        error = null;
        foreach (var field in (ReadOnlySpan<string>)["prompt", "system", "suffix"])
        {
            if (root.TryGetProperty(field, out var value) && value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                error = $"json: cannot unmarshal {value.ValueKind.ToString().ToLowerInvariant()} into Go struct field GenerateRequest.{field} of type string";
                return false;
            }
        }

        var text = root.GetString("prompt");
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        prompt.Add(root.GetString("system"));
        prompt.Add(text);
        prompt.Add(root.GetString("suffix"));
        return true;
    }

    private static async Task EmbedAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        using var document = JsonInput.Parse(context, out var parseError);
        if (document is null)
        {
            await ApiErrors.OllamaAsync(context, 400, parseError!);
            return;
        }

        var root = document.RootElement;
        var requestedName = OllamaRequests.ModelName(root);
        var model = await OllamaRequests.ResolveModelAsync(context, state, requestedName);
        if (model is null)
        {
            return;
        }

        var inputs = new List<string>();
        if (root.TryGetProperty("input", out var input))
        {
            if (input.ValueKind == JsonValueKind.String)
            {
                inputs.Add(input.GetString()!);
            }
            else if (input.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in input.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        await ApiErrors.OllamaAsync(context, 400, "invalid input type");
                        return;
                    }

                    inputs.Add(item.GetString()!);
                }
            }
            else if (input.ValueKind != JsonValueKind.Null)
            {
                await ApiErrors.OllamaAsync(context, 400, "invalid input type");
                return;
            }
        }

        var dimensions = model.EmbeddingLength;
        if (root.TryGetProperty("dimensions", out var dims) && dims.ValueKind != JsonValueKind.Null)
        {
            if (!JsonInput.TryGetWholeNumber(dims, out var d) || d < 1 || d > model.EmbeddingLength)
            {
                await ApiErrors.OllamaAsync(context, 400, $"dimensions must be between 1 and {model.EmbeddingLength}");
                return;
            }

            dimensions = (int)d;
        }

        var truncate = root.GetBool("truncate", fallback: true) ?? true;
        var promptTokens = 0;
        foreach (var text in inputs)
        {
            var tokens = PromptFingerprint.CountTokens(System.Text.Encoding.UTF8.GetByteCount(text));
            if (tokens > model.ContextLength)
            {
                if (!truncate)
                {
                    await ApiErrors.OllamaAsync(context, 400, "input exceeds maximum context length");
                    return;
                }

                tokens = model.ContextLength;
            }

            promptTokens += tokens;
        }

        if (!OllamaRequests.TryReadKeepAlive(root, out var keepAlive, out var keepAliveError))
        {
            await ApiErrors.OllamaAsync(context, 400, keepAliveError!);
            return;
        }

        OllamaRequests.Touch(state, model, keepAlive, context.RequestServices.GetRequiredService<TimeProvider>());
        await new Pacer(start, state.Switches.FirstTokenDelayMs, 0).WaitForTokenAsync(0, context.RequestAborted);
        var vectors = new float[inputs.Count][];
        for (var i = 0; i < inputs.Count; i++)
        {
            vectors[i] = new float[dimensions];
            EmbeddingGenerator.Embed(model.Name, inputs[i], vectors[i]);
        }

        var totalNs = (long)Stopwatch.GetElapsedTime(start).TotalNanoseconds;
        await JsonOutput.WriteAsync(context, 200, (model: requestedName!, vectors, promptTokens, totalNs), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("model"u8, s.model);
            w.WriteStartArray("embeddings"u8);
            foreach (var vector in s.vectors)
            {
                w.WriteStartArray();
                foreach (var value in vector)
                {
                    w.WriteNumberValue(value);
                }

                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteNumber("total_duration"u8, Math.Max(1, s.totalNs));
            w.WriteNumber("load_duration"u8, 1);
            w.WriteNumber("prompt_eval_count"u8, s.promptTokens);
            w.WriteEndObject();
        });
    }

    /// <summary>The older <c>/api/embeddings</c>: <c>{"model","prompt"}</c> -&gt; <c>{"embedding":[...]}</c> (empty prompt -&gt; empty vector).</summary>
    private static async Task LegacyEmbeddingsAsync(HttpContext context)
    {
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        using var document = JsonInput.Parse(context, out var parseError);
        if (document is null)
        {
            await ApiErrors.OllamaAsync(context, 400, parseError!);
            return;
        }

        var root = document.RootElement;
        var model = await OllamaRequests.ResolveModelAsync(context, state, OllamaRequests.ModelName(root));
        if (model is null)
        {
            return;
        }

        var prompt = root.GetString("prompt") ?? "";
        var vector = prompt.Length == 0 ? [] : new float[model.EmbeddingLength];
        EmbeddingGenerator.Embed(model.Name, prompt, vector);
        await JsonOutput.WriteAsync(context, 200, vector, static (w, v) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("embedding"u8);
            foreach (var value in v)
            {
                w.WriteNumberValue(value);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>The fields every chat/generate frame starts with.</summary>
    private sealed class Reply(string model, bool chat, TimeProvider time)
    {
        public void WriteHead(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            w.WriteString("model"u8, model);
            w.WriteString("created_at"u8, time.GetUtcNow().UtcDateTime);
        }

        public void WriteContent(Utf8JsonWriter w, string text)
        {
            if (chat)
            {
                w.WriteStartObject("message"u8);
                w.WriteString("role"u8, "assistant");
                w.WriteString("content"u8, text);
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("response"u8, text);
            }
        }
    }
}

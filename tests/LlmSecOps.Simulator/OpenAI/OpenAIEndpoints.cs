using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlmSecOps.Simulator.Generation;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.Models;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.OpenAI;

/// <summary>
/// OpenAI's API as OpenAI-compatible servers expose it: <c>POST /v1/chat/completions</c>, <c>/v1/completions</c>,
/// <c>/v1/embeddings</c>, <c>GET /v1/models</c> (and <c>/v1/models/{model}</c>). Non-streaming is the default;
/// <c>"stream": true</c> answers server-sent events ending with <c>data: [DONE]</c>, and
/// <c>stream_options.include_usage</c> adds <c>"usage": null</c> to every chunk and a last chunk with empty
/// <c>choices</c> and the usage.
/// </summary>
internal static class OpenAIEndpoints
{
    private const string SystemFingerprint = "fp_llmsecops_sim";
    private const int MaxChoices = 128;

    public static void MapOpenAI(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", (HttpContext context) => CompleteAsync(context, chat: true));
        app.MapPost("/v1/completions", (HttpContext context) => CompleteAsync(context, chat: false));
        app.MapPost("/v1/embeddings", OpenAIEmbeddings.EmbeddingsAsync);
        app.MapGet("/v1/models", ListModelsAsync);
        app.MapGet("/v1/models/{model}", GetModelAsync);
    }

    private static async Task CompleteAsync(HttpContext context, bool chat)
    {
        var start = Stopwatch.GetTimestamp();
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        using var document = JsonInput.Parse(context, out var parseError);
        if (document is null)
        {
            await ApiErrors.OpenAIAsync(context, 400, "We could not parse the JSON body of your request. (" + parseError + ")");
            return;
        }

        var root = document.RootElement;
        var requestedName = root.GetString("model");
        var model = await ResolveModelAsync(context, state, requestedName);
        if (model is null)
        {
            return;
        }

        if (model.IsEmbedding)
        {
            await ApiErrors.OpenAIAsync(context, 400, $"\"{requestedName}\" does not support {(chat ? "chat" : "generate")}", param: "model");
            return;
        }

        var error = ReadParameters(root, out var p);
        var prompts = new List<PromptFingerprint>();
        error ??= chat ? ReadMessages(root, prompts) : ReadPrompts(root, prompts);
        if (error is not null)
        {
            await ApiErrors.OpenAIAsync(context, 400, error.Value.Message, param: error.Value.Param, code: error.Value.Code);
            return;
        }

        var run = GenerationRun.Start(context, state, p.MaxTokens, start);
        var choices = new ulong[prompts.Count * p.N];
        var promptTokens = 0L;
        for (var i = 0; i < prompts.Count; i++)
        {
            promptTokens += prompts[i].Tokens;
            for (var c = 0; c < p.N; c++)
            {
                choices[(i * p.N) + c] = TextGenerator.Seed(model.Name, prompts[i], p.Seed, c);
            }
        }

        var response = new ResponseHead(
            (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24],
            chat ? "chat.completion" : "text_completion",
            context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds(),
            requestedName!,
            chat);
        var usage = new Usage(promptTokens, (long)run.Count * choices.Length);

        if (!p.Stream)
        {
            if (!await run.GenerateAllAsync(openAI: true))
            {
                return;
            }

            await JsonOutput.WriteAsync(context, 200, (response, choices, run, usage), static (w, s) =>
            {
                s.response.WriteStart(w, streaming: false);
                w.WriteStartArray("choices"u8);
                for (var i = 0; i < s.choices.Length; i++)
                {
                    var text = s.run.Text(s.choices[i]);
                    s.response.WriteChoice(w, i, text, s.run.FinishReason, role: true, streaming: false);
                }

                w.WriteEndArray();
                s.usage.Write(w);
                w.WriteEndObject();
            });
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        var output = context.Response.BodyWriter;
        using var writer = JsonOutput.CreateStreamWriter(context);
        for (var t = 0; t < run.Count; t++)
        {
            if (!await run.BeforeTokenAsync(t, StreamFormat.OpenAISse))
            {
                return;
            }

            for (var i = 0; i < choices.Length; i++)
            {
                if (chat && t == 0)
                {
                    // OpenAI opens each choice with a chunk carrying only the role.
                    WriteEvent(writer, output, response, p.IncludeUsage, i, "", null, role: true);
                }

                WriteEvent(writer, output, response, p.IncludeUsage, i, run.Token(choices[i], t), null, role: false);
            }

            await output.FlushAsync(context.RequestAborted);
        }

        if (!await run.BeforeTokenAsync(run.Count, StreamFormat.OpenAISse))
        {
            return;
        }

        for (var i = 0; i < choices.Length; i++)
        {
            if (chat && run.Count == 0)
            {
                WriteEvent(writer, output, response, p.IncludeUsage, i, "", null, role: true);
            }

            WriteEvent(writer, output, response, p.IncludeUsage, i, null, run.FinishReason, role: false);
        }

        if (p.IncludeUsage)
        {
            output.Write("data: "u8);
            writer.Reset();
            response.WriteStart(writer, streaming: true);
            writer.WriteStartArray("choices"u8);
            writer.WriteEndArray();
            usage.Write(writer);
            writer.WriteEndObject();
            writer.Flush();
            output.Write("\n\n"u8);
        }

        output.Write("data: [DONE]\n\n"u8);
        await output.FlushAsync(context.RequestAborted);
    }

    private static void WriteEvent(Utf8JsonWriter writer, System.IO.Pipelines.PipeWriter output, ResponseHead response, bool includeUsage,
        int index, string? text, string? finishReason, bool role)
    {
        output.Write("data: "u8);
        writer.Reset();
        response.WriteStart(writer, streaming: true);
        writer.WriteStartArray("choices"u8);
        response.WriteChoice(writer, index, text, finishReason, role, streaming: true);
        writer.WriteEndArray();
        if (includeUsage)
        {
            writer.WriteNull("usage"u8);
        }

        writer.WriteEndObject();
        writer.Flush();
        output.Write("\n\n"u8);
    }

    internal readonly record struct ParameterError(string Message, string? Param, string? Code);

    private record struct Parameters(long? MaxTokens, int N, bool Stream, bool IncludeUsage, long Seed);

    /// <summary>
    /// max_tokens / max_completion_tokens (integers &gt;= 1; with both, the smaller applies), n (1..128), stream,
    /// stream_options (only with stream), seed. Errors are worded like OpenAI's.
    /// </summary>
    private static ParameterError? ReadParameters(JsonElement root, out Parameters p)
    {
        p = new Parameters(null, 1, false, false, 0);
        foreach (var name in (ReadOnlySpan<string>)["max_tokens", "max_completion_tokens"])
        {
            if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (!JsonInput.TryGetWholeNumber(value, out var max))
            {
                return new($"Invalid type for '{name}': expected an integer, but got {Describe(value)} instead.", name, "invalid_type");
            }

            if (max < 1)
            {
                return new($"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {max} instead.", name, "integer_below_min_value");
            }

            p.MaxTokens = p.MaxTokens is { } current ? Math.Min(current, max) : max;
        }

        if (root.TryGetProperty("n", out var n) && n.ValueKind != JsonValueKind.Null)
        {
            if (!JsonInput.TryGetWholeNumber(n, out var count))
            {
                return new($"Invalid type for 'n': expected an integer, but got {Describe(n)} instead.", "n", "invalid_type");
            }

            if (count is < 1 or > MaxChoices)
            {
                return new($"Invalid 'n': expected a value between 1 and {MaxChoices}, but got {count} instead.", "n", count < 1 ? "integer_below_min_value" : "integer_above_max_value");
            }

            p.N = (int)count;
        }

        if (root.GetBool("stream", fallback: false) is not { } stream)
        {
            return new("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type");
        }

        p.Stream = stream;
        if (root.TryGetProperty("stream_options", out var streamOptions) && streamOptions.ValueKind != JsonValueKind.Null)
        {
            if (!stream)
            {
                return new("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", null);
            }

            if (streamOptions.ValueKind != JsonValueKind.Object || streamOptions.GetBool("include_usage", fallback: false) is not { } includeUsage)
            {
                return new("Invalid type for 'stream_options.include_usage': expected a boolean.", "stream_options.include_usage", "invalid_type");
            }

            p.IncludeUsage = includeUsage;
        }

        if (root.TryGetProperty("seed", out var seed) && seed.ValueKind != JsonValueKind.Null)
        {
            if (!JsonInput.TryGetWholeNumber(seed, out var s))
            {
                return new($"Invalid type for 'seed': expected an integer, but got {Describe(seed)} instead.", "seed", "invalid_type");
            }

            p.Seed = s;
        }

        return null;
    }

    /// <summary>messages[]: each message's role and text (string content, or the text parts of an array).</summary>
    private static ParameterError? ReadMessages(JsonElement root, List<PromptFingerprint> prompts)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
        {
            return new("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }

        if (messages.ValueKind != JsonValueKind.Array)
        {
            return new($"Invalid type for 'messages': expected an array, but got {Describe(messages)} instead.", "messages", "invalid_type");
        }

        if (messages.GetArrayLength() == 0)
        {
            return new("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array");
        }

        var prompt = default(PromptFingerprint);
        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object || message.GetString("role") is not { } role)
            {
                return new($"Missing required parameter: 'messages[{index}].role'.", $"messages[{index}].role", "missing_required_parameter");
            }

            prompt.Add(role, counts: false);
            if (message.TryGetProperty("content", out var content))
            {
                switch (content.ValueKind)
                {
                    case JsonValueKind.String:
                        prompt.Add(content.GetString());
                        break;
                    case JsonValueKind.Array:
                        foreach (var part in content.EnumerateArray())
                        {
                            if (part.ValueKind == JsonValueKind.Object && part.GetString("type") == "text")
                            {
                                prompt.Add(part.GetString("text"));
                            }
                        }

                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        return new($"Invalid type for 'messages[{index}].content': expected one of a string or array of objects, but got {Describe(content)} instead.",
                            $"messages[{index}].content", "invalid_type");
                }
            }

            index++;
        }

        prompts.Add(prompt);
        return null;
    }

    /// <summary>prompt: a string, an array of strings, an array of token ids, or an array of token-id arrays.</summary>
    private static ParameterError? ReadPrompts(JsonElement root, List<PromptFingerprint> prompts)
    {
        if (!root.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
        {
            return new("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }

        if (prompt.ValueKind == JsonValueKind.String)
        {
            prompts.Add(Fingerprint(prompt.GetString()));
            return null;
        }

        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0)
        {
            var first = prompt[0].ValueKind;
            if (first == JsonValueKind.Number)
            {
                prompts.Add(FingerprintTokens(prompt));
                return null;
            }

            foreach (var item in prompt.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    prompts.Add(Fingerprint(item.GetString()));
                }
                else if (item.ValueKind == JsonValueKind.Array)
                {
                    prompts.Add(FingerprintTokens(item));
                }
                else
                {
                    return new("Invalid type for 'prompt': expected a string or an array of strings or token arrays.", "prompt", "invalid_type");
                }
            }

            return null;
        }

        return new("Invalid 'prompt': expected a non-empty string or array.", "prompt", "invalid_value");
    }

    private static PromptFingerprint Fingerprint(string? text)
    {
        var fingerprint = default(PromptFingerprint);
        fingerprint.Add(text);
        return fingerprint;
    }

    /// <summary>A prompt given as token ids: hashed by its text form, counted as 4 bytes (one token) per id.</summary>
    private static PromptFingerprint FingerprintTokens(JsonElement tokens)
    {
        var fingerprint = default(PromptFingerprint);
        fingerprint.Add(tokens.GetRawText(), counts: false);
        fingerprint.AddBytes(4L * tokens.GetArrayLength());
        return fingerprint;
    }

    internal static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    /// <summary>404 <c>model_not_found</c> as OpenAI words it; 400 when the model is missing.</summary>
    internal static async Task<SimulatedModel?> ResolveModelAsync(HttpContext context, SimulatorState state, string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            await ApiErrors.OpenAIAsync(context, 400, "you must provide a model parameter");
            return null;
        }

        var model = state.Models.Find(name);
        if (model is null)
        {
            await ApiErrors.OpenAIAsync(context, 404, $"The model `{name}` does not exist or you do not have access to it.", code: "model_not_found");
        }

        return model;
    }

    private static Task ListModelsAsync(HttpContext context)
    {
        var models = context.RequestServices.GetRequiredService<SimulatorState>().Models.All;
        return JsonOutput.WriteAsync(context, 200, models, static (w, models) =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list");
            w.WriteStartArray("data"u8);
            foreach (var model in models)
            {
                WriteModel(w, model);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static async Task GetModelAsync(HttpContext context)
    {
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        var model = await ResolveModelAsync(context, state, (string?)context.Request.RouteValues["model"]);
        if (model is not null)
        {
            await JsonOutput.WriteAsync(context, 200, model, static (w, m) => WriteModel(w, m));
        }
    }

    private static void WriteModel(Utf8JsonWriter w, SimulatedModel model)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, model.Name);
        w.WriteString("object"u8, "model");
        w.WriteNumber("created"u8, model.ModifiedAt.ToUnixTimeSeconds());
        w.WriteString("owned_by"u8, "library");
        w.WriteEndObject();
    }

    private readonly record struct Usage(long PromptTokens, long CompletionTokens)
    {
        public void Write(Utf8JsonWriter w)
        {
            w.WriteStartObject("usage"u8);
            w.WriteNumber("prompt_tokens"u8, PromptTokens);
            w.WriteNumber("completion_tokens"u8, CompletionTokens);
            w.WriteNumber("total_tokens"u8, PromptTokens + CompletionTokens);
            w.WriteEndObject();
        }
    }

    private sealed record ResponseHead(string Id, string Object, long Created, string Model, bool Chat)
    {
        public void WriteStart(Utf8JsonWriter w, bool streaming)
        {
            w.WriteStartObject();
            w.WriteString("id"u8, Id);
            w.WriteString("object"u8, streaming && Chat ? "chat.completion.chunk" : Object);
            w.WriteNumber("created"u8, Created);
            w.WriteString("model"u8, Model);
            w.WriteString("system_fingerprint"u8, SystemFingerprint);
        }

        /// <summary>One choice; <paramref name="text"/> null writes an empty delta (the closing chunk).</summary>
        public void WriteChoice(Utf8JsonWriter w, int index, string? text, string? finishReason, bool role, bool streaming)
        {
            w.WriteStartObject();
            w.WriteNumber("index"u8, index);
            if (!Chat)
            {
                w.WriteString("text"u8, text ?? "");
            }
            else
            {
                w.WriteStartObject(streaming ? "delta"u8 : "message"u8);
                if (role)
                {
                    w.WriteString("role"u8, "assistant");
                }

                if (text is not null)
                {
                    w.WriteString("content"u8, text);
                }

                if (role)
                {
                    w.WriteNull("refusal"u8);
                }

                w.WriteEndObject();
            }

            w.WriteNull("logprobs"u8);
            if (finishReason is null)
            {
                w.WriteNull("finish_reason"u8);
            }
            else
            {
                w.WriteString("finish_reason"u8, finishReason);
            }

            w.WriteEndObject();
        }
    }
}

/// <summary><c>POST /v1/embeddings</c>: float arrays, or little-endian float32 base64 with <c>"encoding_format": "base64"</c>
/// (what the official openai client asks for by default).</summary>
internal static class OpenAIEmbeddings
{
    public static async Task EmbeddingsAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var state = context.RequestServices.GetRequiredService<SimulatorState>();
        using var document = JsonInput.Parse(context, out var parseError);
        if (document is null)
        {
            await ApiErrors.OpenAIAsync(context, 400, "We could not parse the JSON body of your request. (" + parseError + ")");
            return;
        }

        var root = document.RootElement;
        var requestedName = root.GetString("model");
        var model = await OpenAIEndpoints.ResolveModelAsync(context, state, requestedName);
        if (model is null)
        {
            return;
        }

        var inputs = new List<string>();
        long promptTokens = 0;
        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            await ApiErrors.OpenAIAsync(context, 400, "Missing required parameter: 'input'.", param: "input", code: "missing_required_parameter");
            return;
        }

        if (input.ValueKind == JsonValueKind.String)
        {
            inputs.Add(input.GetString()!);
            promptTokens += CountTokens(inputs[^1]);
        }
        else if (input.ValueKind == JsonValueKind.Array && input.GetArrayLength() > 0)
        {
            if (input[0].ValueKind == JsonValueKind.Number)
            {
                inputs.Add(input.GetRawText());
                promptTokens += input.GetArrayLength();
            }
            else
            {
                foreach (var item in input.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.String)
                    {
                        inputs.Add(item.GetString()!);
                        promptTokens += CountTokens(inputs[^1]);
                    }
                    else if (item.ValueKind == JsonValueKind.Array)
                    {
                        inputs.Add(item.GetRawText());
                        promptTokens += item.GetArrayLength();
                    }
                    else
                    {
                        await ApiErrors.OpenAIAsync(context, 400, "Invalid type for 'input': expected a string, array of strings, or array of token arrays.", param: "input", code: "invalid_type");
                        return;
                    }
                }
            }
        }
        else
        {
            await ApiErrors.OpenAIAsync(context, 400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", param: "input", code: "invalid_value");
            return;
        }

        var format = root.GetString("encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
        {
            await ApiErrors.OpenAIAsync(context, 400, $"Invalid value for 'encoding_format': expected 'float' or 'base64', but got '{format}'.", param: "encoding_format", code: "invalid_value");
            return;
        }

        var dimensions = model.EmbeddingLength;
        if (root.TryGetProperty("dimensions", out var dims) && dims.ValueKind != JsonValueKind.Null)
        {
            if (!JsonInput.TryGetWholeNumber(dims, out var d) || d < 1 || d > model.EmbeddingLength)
            {
                await ApiErrors.OpenAIAsync(context, 400, $"Invalid 'dimensions': expected a value between 1 and {model.EmbeddingLength}.", param: "dimensions", code: "invalid_value");
                return;
            }

            dimensions = (int)d;
        }

        await new Pacer(start, state.Switches.FirstTokenDelayMs, 0).WaitForTokenAsync(0, context.RequestAborted);
        var vectors = new float[inputs.Count][];
        for (var i = 0; i < inputs.Count; i++)
        {
            vectors[i] = new float[dimensions];
            EmbeddingGenerator.Embed(model.Name, inputs[i], vectors[i]);
        }

        await JsonOutput.WriteAsync(context, 200, (model: requestedName!, vectors, promptTokens, base64: format == "base64"), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list");
            w.WriteStartArray("data"u8);
            for (var i = 0; i < s.vectors.Length; i++)
            {
                w.WriteStartObject();
                w.WriteString("object"u8, "embedding");
                w.WriteNumber("index"u8, i);
                if (s.base64)
                {
                    // float32 little-endian, as OpenAI encodes it (x64 and arm64 are little-endian).
                    w.WriteBase64String("embedding"u8, MemoryMarshal.AsBytes(s.vectors[i].AsSpan()));
                }
                else
                {
                    w.WriteStartArray("embedding"u8);
                    foreach (var value in s.vectors[i])
                    {
                        w.WriteNumberValue(value);
                    }

                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteString("model"u8, s.model);
            w.WriteStartObject("usage"u8);
            w.WriteNumber("prompt_tokens"u8, s.promptTokens);
            w.WriteNumber("total_tokens"u8, s.promptTokens);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static int CountTokens(string text) => PromptFingerprint.CountTokens(System.Text.Encoding.UTF8.GetByteCount(text));
}

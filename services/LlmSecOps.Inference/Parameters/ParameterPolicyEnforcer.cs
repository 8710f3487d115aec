using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Parameters;

/// <summary>The request after the tier policy: what to forward and what to reserve.</summary>
public sealed class PreparedRequest
{
    internal PreparedRequest(RequestParameters parameters, ReadOnlyMemory<byte> body, long? effectiveMaxTokens,
        long inputEstimate, long reservation, bool maxTokensRewritten, bool usageInjected)
    {
        Parameters = parameters;
        Body = body;
        EffectiveMaxTokens = effectiveMaxTokens;
        InputTokenEstimate = inputEstimate;
        ReservationTokens = reservation;
        MaxTokensRewritten = maxTokensRewritten;
        UsageInjected = usageInjected;
    }

    /// <summary>What was parsed.</summary>
    public RequestParameters Parameters { get; }

    /// <summary>The body to forward: the original bytes, spliced where the policy changed a value.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>max_tokens the upstream will honour (null for routes that do not generate, e.g. embeddings).</summary>
    public long? EffectiveMaxTokens { get; }

    /// <summary>Safe upper bound of input tokens (see <see cref="ParameterPolicyEnforcer"/>).</summary>
    public long InputTokenEstimate { get; }

    /// <summary>Tokens to reserve before calling the upstream: input estimate + effective max_tokens x completions per request.</summary>
    public long ReservationTokens { get; }

    /// <summary>True when max_tokens was injected or clamped.</summary>
    public bool MaxTokensRewritten { get; }

    /// <summary>True when <c>stream_options.include_usage</c> was turned on by the gateway (the client did not ask for the usage chunk).</summary>
    public bool UsageInjected { get; }
}

/// <summary>
/// Applies a <see cref="TierParameterPolicy"/> to parsed <see cref="RequestParameters"/> and produces the body to
/// forward. The body is never re-serialised: the original bytes are copied with a few splices (a value replaced or a
/// property inserted), so the upstream sees exactly what the guards saw apart from the policy's own edits.
/// <para>
/// Input estimate: (body bytes - inline image payload bytes) + images x <see cref="TierParameterPolicy.TokensPerImage"/>
/// + <see cref="TierParameterPolicy.TemplateOverheadTokens"/>. Why UTF-8 bytes bound the token count: byte-level BPE
/// (GPT-2/tiktoken, Llama 3, Qwen) starts from one token per byte and every merge only joins tokens, so a text of B
/// bytes encodes to at most B tokens; SentencePiece BPE with byte fallback (Llama 2, Mistral, Gemma) emits a piece
/// covering at least one character or a fallback token for exactly one byte, and WordPiece (BERT-style embedding
/// models) emits pieces of at least one character or one [UNK] per word, so again at most one token per byte. The
/// JSON around the text (keys, quotes, escapes, role names) is counted too, which covers the per-message role and
/// separator tokens a chat template adds; what the body cannot show (BOS, template text, a Modelfile SYSTEM prompt)
/// is the fixed overhead.
/// </para>
/// </summary>
public static class ParameterPolicyEnforcer
{
    /// <summary>Applies <paramref name="policy"/>; throws <see cref="InferenceRequestException"/> when the request must be refused.</summary>
    public static PreparedRequest Apply(RequestParameters p, ReadOnlyMemory<byte> body, TierParameterPolicy policy)
    {
        var route = p.Route;
        var edits = new List<Edit>(4);

        CheckAllowed(p, policy);

        long? effective = null;
        var rewritten = false;
        if (route.Generates)
        {
            (effective, rewritten) = MaxTokens(p, policy, edits);
        }

        var usageInjected = false;
        if (route.Family == ApiFamily.OpenAi && route.CanStream && p.StreamEffective && policy.ForceStreamUsage && p.IncludeUsage != true)
        {
            InjectIncludeUsage(p, edits);
            usageInjected = true;
        }

        if (p.HasKeepAlive && (p.KeepAliveForever || p.KeepAlive > policy.MaxKeepAlive))
        {
            // Ollama reads a number as seconds; an integer keeps it exact for Go's time.Duration.
            var seconds = (long)Math.Floor(policy.MaxKeepAlive.TotalSeconds);
            edits.Add(new Edit(p.KeepAliveValue.Start, p.KeepAliveValue.Length, seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var input = Math.Max(0, p.BodyLength - p.ImagePayloadBytes)
            + ((long)p.ImageCount * policy.TokensPerImage)
            + policy.TemplateOverheadTokens;
        var reservation = input + ((effective ?? 0) * p.CompletionsPerRequest);

        var output = edits.Count == 0 ? body : Splice(body.Span, edits);
        return new PreparedRequest(p, output, effective, input, reservation, rewritten, usageInjected);
    }

    private static void CheckAllowed(RequestParameters p, TierParameterPolicy policy)
    {
        if (p.N > policy.MaxN)
        {
            throw Above("n", $"'n' is {p.N}; this tier allows at most {policy.MaxN}.");
        }

        if (p.BestOf > policy.MaxN)
        {
            throw Above("best_of", $"'best_of' is {p.BestOf}; this tier allows at most {policy.MaxN}.");
        }

        if (p.BestOf is { } bestOf && p.N is { } n && bestOf < n)
        {
            throw new InferenceRequestException(RequestErrorKind.InvalidValue, "best_of", "'best_of' must be greater than or equal to 'n'.");
        }

        if (p.NumCtx > policy.MaxNumCtx)
        {
            throw Above("options.num_ctx", $"'options.num_ctx' is {p.NumCtx}; this tier allows at most {policy.MaxNumCtx}.");
        }

        if (p.HardwareOption is { } hw && !policy.AllowHardwareOptions)
        {
            throw NotAllowed(hw, $"'{hw}' is a load-time hardware option this tier does not allow.");
        }

        if (p.Raw && !policy.AllowRaw)
        {
            throw NotAllowed("raw", "'raw' mode bypasses the model's template and is not allowed for this tier.");
        }

        if (p.HasTemplate && !policy.AllowTemplateOverride)
        {
            throw NotAllowed("template", "Overriding the prompt 'template' is not allowed for this tier.");
        }

        if (p.HasSystemOverride && !policy.AllowSystemOverride)
        {
            throw NotAllowed("system", "Overriding the 'system' prompt is not allowed for this tier.");
        }

        if (p.ImageCount > policy.MaxImages)
        {
            throw Above("images", $"The request has {p.ImageCount} 'images'; this tier allows at most {policy.MaxImages}.");
        }

        if (p.LargestImageBytes > policy.MaxImageBytes)
        {
            throw Above("images", $"An image in 'images' is about {p.LargestImageBytes} bytes decoded; this tier allows at most {policy.MaxImageBytes} per image.");
        }

        if (p.HasRemoteImageUrl && !policy.AllowRemoteImageUrls)
        {
            throw NotAllowed("image_url", "Images by remote URL ('image_url' with an http(s) URL) are not allowed; send them inline as base64 data URLs.");
        }

        if (p.LogprobsRequested && !policy.AllowLogprobs)
        {
            throw NotAllowed("logprobs", "Log probabilities ('logprobs') are not allowed for this tier.");
        }

        if (p.TopLogprobs > policy.MaxTopLogprobs)
        {
            throw Above("top_logprobs", $"'top_logprobs' is {p.TopLogprobs}; this tier allows at most {policy.MaxTopLogprobs}.");
        }

        if (p.LogitBiasEntries > 0 && !policy.AllowLogitBias)
        {
            throw NotAllowed("logit_bias", "'logit_bias' is not allowed for this tier.");
        }

        if (p.LogitBiasEntries > policy.MaxLogitBiasEntries)
        {
            throw Above("logit_bias", $"'logit_bias' has {p.LogitBiasEntries} entries; this tier allows at most {policy.MaxLogitBiasEntries}.");
        }
    }

    private static (long Effective, bool Rewritten) MaxTokens(RequestParameters p, TierParameterPolicy policy, List<Edit> edits)
    {
        var cap = (long)policy.MaxMaxTokens;
        var requested = p.MaxTokensRequested;
        string? spelling = p.Route.Family == ApiFamily.Ollama ? "options.num_predict"
            : p.MaxCompletionTokens is not null && p.MaxTokens is null ? "max_completion_tokens" : "max_tokens";

        long effective;
        if (p.RequestedUnlimited)
        {
            if (policy.MaxTokensExcess == ExcessMode.Reject)
            {
                throw Above(spelling, $"'{spelling}' {p.NumPredict} asks for unlimited output; this tier allows at most {cap}.");
            }

            effective = cap;
        }
        else if (requested is null)
        {
            effective = policy.DefaultMaxTokens;
        }
        else if (requested > cap)
        {
            if (policy.MaxTokensExcess == ExcessMode.Reject)
            {
                throw Above(spelling, $"'{spelling}' is {requested}; this tier allows at most {cap}.");
            }

            effective = cap;
        }
        else
        {
            effective = requested.Value;
        }

        var text = effective.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var before = edits.Count;
        if (p.Route.Family == ApiFamily.Ollama)
        {
            if (p.NumPredict == effective)
            {
                return (effective, false);
            }

            if (p.NumPredictValue.Exists)
            {
                edits.Add(new Edit(p.NumPredictValue.Start, p.NumPredictValue.Length, text));
            }
            else if (p.OptionsIsObject)
            {
                edits.Add(new Edit(p.OptionsValue.Start + 1, 0, "\"num_predict\":" + text + (p.OptionsHasProperties ? "," : "")));
            }
            else if (p.OptionsValue.Exists)
            {
                // "options": null
                edits.Add(new Edit(p.OptionsValue.Start, p.OptionsValue.Length, "{\"num_predict\":" + text + "}"));
            }
            else
            {
                InsertRoot(p, edits, "\"options\":{\"num_predict\":" + text + "}");
            }
        }
        else
        {
            // Every spelling present is rewritten to the effective value, and max_tokens (the spelling every
            // OpenAI-compatible server reads: vLLM, llama.cpp, Ollama's /v1) is always present, so the cap holds
            // whichever spelling the upstream honours.
            if (p.MaxCompletionTokensValue.Exists && p.MaxCompletionTokens != effective)
            {
                edits.Add(new Edit(p.MaxCompletionTokensValue.Start, p.MaxCompletionTokensValue.Length, text));
            }

            if (p.MaxTokensValue.Exists)
            {
                if (p.MaxTokens != effective)
                {
                    edits.Add(new Edit(p.MaxTokensValue.Start, p.MaxTokensValue.Length, text));
                }
            }
            else
            {
                InsertRoot(p, edits, "\"max_tokens\":" + text);
            }
        }

        return (effective, edits.Count > before);
    }

    private static void InjectIncludeUsage(RequestParameters p, List<Edit> edits)
    {
        if (p.IncludeUsageValue.Exists)
        {
            edits.Add(new Edit(p.IncludeUsageValue.Start, p.IncludeUsageValue.Length, "true"));
        }
        else if (p.StreamOptionsIsObject)
        {
            edits.Add(new Edit(p.StreamOptionsValue.Start + 1, 0, "\"include_usage\":true" + (p.StreamOptionsHasProperties ? "," : "")));
        }
        else if (p.StreamOptionsValue.Exists)
        {
            edits.Add(new Edit(p.StreamOptionsValue.Start, p.StreamOptionsValue.Length, "{\"include_usage\":true}"));
        }
        else
        {
            InsertRoot(p, edits, "\"stream_options\":{\"include_usage\":true}");
        }
    }

    private static void InsertRoot(RequestParameters p, List<Edit> edits, string property)
    {
        // Inserted first in the root object; a following comma only when the object already had properties.
        // Several inserts at the same offset are joined with commas by Splice.
        edits.Add(new Edit(p.RootStart + 1, 0, property + (p.RootHasProperties ? "," : ""), RootInsert: true));
    }

    private static ReadOnlyMemory<byte> Splice(ReadOnlySpan<byte> body, List<Edit> edits)
    {
        edits.Sort((a, b) => a.Start.CompareTo(b.Start));

        // Two root inserts into an EMPTY root object need a comma between them.
        for (var i = 1; i < edits.Count; i++)
        {
            if (edits[i].RootInsert && edits[i - 1].RootInsert && !edits[i - 1].Text.EndsWith(',')
                && edits[i].Start == edits[i - 1].Start)
            {
                edits[i - 1] = edits[i - 1] with { Text = edits[i - 1].Text + "," };
            }
        }

        var size = body.Length;
        foreach (var e in edits)
        {
            size += System.Text.Encoding.UTF8.GetByteCount(e.Text) - e.Length;
        }

        var output = new byte[size];
        var written = 0;
        var read = 0;
        foreach (var e in edits)
        {
            body[read..e.Start].CopyTo(output.AsSpan(written));
            written += e.Start - read;
            written += System.Text.Encoding.UTF8.GetBytes(e.Text, output.AsSpan(written));
            read = e.Start + e.Length;
        }

        body[read..].CopyTo(output.AsSpan(written));
        return output;
    }

    private static InferenceRequestException Above(string parameter, string message) =>
        new(RequestErrorKind.AboveLimit, parameter, message);

    private static InferenceRequestException NotAllowed(string parameter, string message) =>
        new(RequestErrorKind.NotAllowed, parameter, message);

    private readonly record struct Edit(int Start, int Length, string Text, bool RootInsert = false);
}

namespace LlmSecOps.Inference.Parameters;

/// <summary>What to do when a request asks for more than the tier allows.</summary>
public enum ExcessMode
{
    /// <summary>Lower the value to the cap and forward (the client gets a shorter answer at most).</summary>
    Clamp,

    /// <summary>Refuse with 400.</summary>
    Reject,
}

/// <summary>
/// Per-tier bounds on parameters that can exhaust a GPU or escape policy (issue 4, points 4 and 5). A plain options
/// object: the gateway builds one per tier from the control plane's tier record. Defaults are deliberately modest
/// and fail closed (features that can escape policy are off unless switched on).
/// </summary>
public sealed class TierParameterPolicy
{
    /// <summary>max_tokens injected when the request has none. Default 1,024.</summary>
    public int DefaultMaxTokens { get; set; } = 1024;

    /// <summary>Largest max_tokens allowed. Default 4,096.</summary>
    public int MaxMaxTokens { get; set; } = 4096;

    /// <summary>Above <see cref="MaxMaxTokens"/> (or Ollama's unlimited -1/-2): clamp or 400. Default <see cref="ExcessMode.Clamp"/>.</summary>
    public ExcessMode MaxTokensExcess { get; set; } = ExcessMode.Clamp;

    /// <summary>Largest OpenAI <c>n</c> and <c>best_of</c>. Default 4. Above it: 400 (clamping would silently return fewer choices).</summary>
    public int MaxN { get; set; } = 4;

    /// <summary>Largest Ollama <c>options.num_ctx</c>. Default 8,192. Above it: 400 (the KV cache grows with it).</summary>
    public int MaxNumCtx { get; set; } = 8192;

    /// <summary>Longest Ollama <c>keep_alive</c>. Default 30 minutes. Longer or negative (forever): clamped to this.</summary>
    public TimeSpan MaxKeepAlive { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Allow Ollama load-time hardware options (<c>num_gpu</c>, <c>main_gpu</c>, <c>num_thread</c>, <c>num_batch</c>, <c>use_mmap</c>, <c>use_mlock</c>, <c>low_vram</c>, <c>numa</c>). Default false.</summary>
    public bool AllowHardwareOptions { get; set; }

    /// <summary>Allow Ollama <c>raw: true</c> (bypasses the model's prompt template and its system prompt). Default false.</summary>
    public bool AllowRaw { get; set; }

    /// <summary>Allow an Ollama <c>template</c> override. Default false.</summary>
    public bool AllowTemplateOverride { get; set; }

    /// <summary>Allow an Ollama <c>/api/generate</c> <c>system</c> override of the Modelfile system prompt. Default true (a common client feature).</summary>
    public bool AllowSystemOverride { get; set; } = true;

    /// <summary>Most images per request. Default 4.</summary>
    public int MaxImages { get; set; } = 4;

    /// <summary>Largest decoded inline image, in bytes. Default 5 MiB.</summary>
    public long MaxImageBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>Allow images by remote URL (the upstream fetches them: server-side request forgery from inside). Default false.</summary>
    public bool AllowRemoteImageUrls { get; set; }

    /// <summary>Allow log probabilities. Default true.</summary>
    public bool AllowLogprobs { get; set; } = true;

    /// <summary>Largest <c>top_logprobs</c> (or completions <c>logprobs</c> integer). Default 5.</summary>
    public int MaxTopLogprobs { get; set; } = 5;

    /// <summary>Allow <c>logit_bias</c> (it can force tokens past a model's refusals). Default false.</summary>
    public bool AllowLogitBias { get; set; }

    /// <summary>Most <c>logit_bias</c> entries when allowed. Default 300 (OpenAI's own limit).</summary>
    public int MaxLogitBiasEntries { get; set; } = 300;

    /// <summary>
    /// When an OpenAI request streams without <c>stream_options.include_usage: true</c>, turn it on so the upstream
    /// reports exact usage at the end of the stream. Default true.
    /// </summary>
    public bool ForceStreamUsage { get; set; } = true;

    /// <summary>Input tokens charged per image in the reservation estimate. Default 2,048 (vision encoders use 256-2,000+ per image).</summary>
    public int TokensPerImage { get; set; } = 2048;

    /// <summary>
    /// Input tokens added to every estimate for what the body does not show: the model's prompt template, BOS/EOS and
    /// role tokens, and a Modelfile SYSTEM prompt. Default 256; raise it for models with long built-in system prompts.
    /// </summary>
    public int TemplateOverheadTokens { get; set; } = 256;

    /// <summary>Shared defaults.</summary>
    public static TierParameterPolicy Default { get; } = new();

    /// <summary>Every problem with these settings at once, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxMaxTokens < 1)
        {
            errors.Add($"{nameof(MaxMaxTokens)} must be at least 1 (is {MaxMaxTokens}).");
        }

        if (DefaultMaxTokens < 1 || DefaultMaxTokens > MaxMaxTokens)
        {
            errors.Add($"{nameof(DefaultMaxTokens)} must be between 1 and {nameof(MaxMaxTokens)} ({MaxMaxTokens}); is {DefaultMaxTokens}.");
        }

        if (MaxN < 1)
        {
            errors.Add($"{nameof(MaxN)} must be at least 1 (is {MaxN}).");
        }

        if (MaxNumCtx < 1)
        {
            errors.Add($"{nameof(MaxNumCtx)} must be at least 1 (is {MaxNumCtx}).");
        }

        if (MaxKeepAlive < TimeSpan.Zero)
        {
            errors.Add($"{nameof(MaxKeepAlive)} must not be negative (negative means forever in Ollama).");
        }

        if (MaxImages < 0 || MaxImageBytes < 0 || MaxTopLogprobs < 0 || MaxLogitBiasEntries < 0 || TokensPerImage < 0 || TemplateOverheadTokens < 0)
        {
            errors.Add($"{nameof(MaxImages)}, {nameof(MaxImageBytes)}, {nameof(MaxTopLogprobs)}, {nameof(MaxLogitBiasEntries)}, {nameof(TokensPerImage)} and {nameof(TemplateOverheadTokens)} must not be negative.");
        }

        return errors;
    }
}

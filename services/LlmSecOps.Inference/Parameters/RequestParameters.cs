using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Parameters;

/// <summary>A slice of the request body: <c>Start</c> is a byte offset, <c>Start &lt; 0</c> means absent.</summary>
/// <param name="Start">Byte offset in the body.</param>
/// <param name="Length">Byte length.</param>
public readonly record struct BodySpan(int Start, int Length)
{
    /// <summary>Absent.</summary>
    public static BodySpan None => new(-1, 0);

    /// <summary>True when present.</summary>
    public bool Exists => Start >= 0;
}

/// <summary>A JSON string value in the body that carries prompt text (for the input guards).</summary>
/// <param name="Start">Byte offset of the first byte after the opening quote.</param>
/// <param name="Length">Raw (still escaped) byte length.</param>
/// <param name="Escaped">True when the raw bytes contain JSON escapes.</param>
public readonly record struct TextRange(int Start, int Length, bool Escaped)
{
    /// <summary>Decodes this range of <paramref name="body"/> to text.</summary>
    public string GetText(ReadOnlySpan<byte> body) => JsonText.Decode(body.Slice(Start, Length));
}

/// <summary>
/// What the gateway needs from a request body, extracted in one pass by <see cref="RequestBodyParser"/>. Numbers
/// are kept as sent (validated for type and API range); the tier policy is applied by
/// <see cref="ParameterPolicyEnforcer"/>.
/// </summary>
public sealed class RequestParameters
{
    internal RequestParameters(InferenceRoute route, int bodyLength)
    {
        Route = route;
        BodyLength = bodyLength;
    }

    /// <summary>The route the body was parsed for.</summary>
    public InferenceRoute Route { get; }

    /// <summary>Body length in bytes.</summary>
    public int BodyLength { get; }

    /// <summary><c>model</c> as sent.</summary>
    public string? Model { get; internal set; }

    /// <summary><c>stream</c> as sent (null when absent or null).</summary>
    public bool? Stream { get; internal set; }

    /// <summary>
    /// Whether the response will stream: OpenAI defaults to false; Ollama's <c>/api/chat</c> and <c>/api/generate</c>
    /// default to TRUE when <c>stream</c> is absent (Ollama API docs).
    /// </summary>
    public bool StreamEffective => Stream ?? (Route.Family == ApiFamily.Ollama && Route.CanStream);

    /// <summary><c>stream_options.include_usage</c> as sent.</summary>
    public bool? IncludeUsage { get; internal set; }

    /// <summary>OpenAI <c>max_tokens</c> (validated >= 1), null when absent or null.</summary>
    public long? MaxTokens { get; internal set; }

    /// <summary>OpenAI <c>max_completion_tokens</c> (validated >= 1), null when absent or null.</summary>
    public long? MaxCompletionTokens { get; internal set; }

    /// <summary>Ollama <c>options.num_predict</c> as sent (any integer; &lt;= 0 means unlimited).</summary>
    public long? NumPredict { get; internal set; }

    /// <summary>
    /// The max_tokens the client asked for in whichever spelling, the larger when two were sent; null when absent or
    /// when it asked for unlimited (see <see cref="RequestedUnlimited"/>).
    /// </summary>
    public long? MaxTokensRequested => Route.Family == ApiFamily.Ollama
        ? (NumPredict > 0 ? NumPredict : null)
        : (MaxTokens, MaxCompletionTokens) switch
        {
            (null, null) => null,
            ({ } a, null) => a,
            (null, { } b) => b,
            ({ } a, { } b) => Math.Max(a, b),
        };

    /// <summary>
    /// True when Ollama <c>options.num_predict</c> is -1 (infinite), -2 (fill the context) or any other value &lt;= 0:
    /// Ollama's runner only stops on the count when <c>numPredict &gt; 0</c>, so all of these are unbounded.
    /// </summary>
    public bool RequestedUnlimited => Route.Family == ApiFamily.Ollama && NumPredict <= 0;

    /// <summary>OpenAI <c>n</c> (validated >= 1).</summary>
    public long? N { get; internal set; }

    /// <summary>OpenAI completions <c>best_of</c> (validated >= 1).</summary>
    public long? BestOf { get; internal set; }

    /// <summary>How many completions the upstream generates per request: max(n, best_of, 1).</summary>
    public long CompletionsPerRequest => Math.Max(1, Math.Max(N ?? 1, BestOf ?? 1));

    /// <summary>True when log probabilities were asked for (<c>logprobs: true</c>, or an integer &gt; 0 on completions).</summary>
    public bool LogprobsRequested { get; internal set; }

    /// <summary>The number of top log probabilities asked for (chat <c>top_logprobs</c>, completions <c>logprobs</c> integer, Ollama <c>top_logprobs</c>).</summary>
    public long? TopLogprobs { get; internal set; }

    /// <summary>Entries in <c>logit_bias</c> (0 when absent).</summary>
    public int LogitBiasEntries { get; internal set; }

    /// <summary>True when a <c>keep_alive</c> value was sent (not null).</summary>
    public bool HasKeepAlive { get; internal set; }

    /// <summary><c>keep_alive</c> as a duration; null when absent or when it means forever.</summary>
    public TimeSpan? KeepAlive { get; internal set; }

    /// <summary>True when <c>keep_alive</c> is negative, which Ollama reads as "keep loaded forever".</summary>
    public bool KeepAliveForever { get; internal set; }

    /// <summary>Ollama <c>options.num_ctx</c>.</summary>
    public long? NumCtx { get; internal set; }

    /// <summary>The first hardware/load-time option sent (<c>options.num_gpu</c>, <c>main_gpu</c>, <c>num_thread</c>...), else null.</summary>
    public string? HardwareOption { get; internal set; }

    /// <summary>Ollama <c>raw</c>.</summary>
    public bool Raw { get; internal set; }

    /// <summary>True when a non-empty Ollama <c>template</c> override was sent.</summary>
    public bool HasTemplate { get; internal set; }

    /// <summary>True when a non-empty Ollama <c>/api/generate</c> <c>system</c> override was sent.</summary>
    public bool HasSystemOverride { get; internal set; }

    /// <summary>Images in the request (OpenAI <c>image_url</c> parts, Ollama <c>images</c> at any level).</summary>
    public int ImageCount { get; internal set; }

    /// <summary>Decoded size of the largest inline image, in bytes (base64 length x 3/4).</summary>
    public long LargestImageBytes { get; internal set; }

    /// <summary>Raw bytes of all inline image payloads (excluded from the text-based input estimate).</summary>
    public long ImagePayloadBytes { get; internal set; }

    /// <summary>True when an image is given by remote URL (the upstream would fetch it: SSRF from inside).</summary>
    public bool HasRemoteImageUrl { get; internal set; }

    /// <summary>Number of chat messages.</summary>
    public int MessageCount { get; internal set; }

    /// <summary>
    /// Prompt-bearing strings (message contents, text parts, prompt, input, system, suffix), as offsets into the
    /// ORIGINAL body given to the parser (not the forwarded one, which the policy may have spliced).
    /// </summary>
    public IReadOnlyList<TextRange> TextRanges => _textRanges;

    internal readonly List<TextRange> _textRanges = [];

    // Anchors for rewriting (byte offsets into the original body).
    internal int RootStart;
    internal bool RootHasProperties;
    internal BodySpan MaxTokensValue = BodySpan.None;
    internal BodySpan MaxCompletionTokensValue = BodySpan.None;
    internal BodySpan NumPredictValue = BodySpan.None;
    internal BodySpan OptionsValue = BodySpan.None;
    internal bool OptionsIsObject;
    internal bool OptionsHasProperties;
    internal BodySpan StreamOptionsValue = BodySpan.None;
    internal bool StreamOptionsIsObject;
    internal bool StreamOptionsHasProperties;
    internal BodySpan IncludeUsageValue = BodySpan.None;
    internal BodySpan KeepAliveValue = BodySpan.None;
}

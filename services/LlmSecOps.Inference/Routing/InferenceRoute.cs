namespace LlmSecOps.Inference.Routing;

/// <summary>Which wire API a route belongs to; decides error body format and parameter spellings.</summary>
public enum ApiFamily
{
    /// <summary>OpenAI-compatible <c>/v1/*</c> routes; errors are <c>{"error":{"message","type","code"}}</c>.</summary>
    OpenAi,

    /// <summary>Ollama native <c>/api/*</c> routes; errors are <c>{"error":"..."}</c>.</summary>
    Ollama,
}

/// <summary>Stable identifiers of the allowed data-plane endpoints.</summary>
public enum EndpointId
{
    OpenAiChatCompletions,
    OpenAiCompletions,
    OpenAiEmbeddings,
    OpenAiModels,
    OllamaChat,
    OllamaGenerate,
    OllamaEmbed,
    OllamaEmbeddings,
    OllamaTags,
    OllamaShow,
    OllamaVersion,
}

/// <summary>
/// One entry of the data-plane allow-list (ARCHITECTURE.md "Request path"). <see cref="Path"/> is the canonical path
/// forwarded upstream; the raw client path never is.
/// </summary>
/// <param name="Id">Stable endpoint id.</param>
/// <param name="Method">HTTP method, upper case (RFC 9110 §9.1: methods are case-sensitive).</param>
/// <param name="Path">Canonical path, e.g. <c>/v1/chat/completions</c>.</param>
/// <param name="Family">OpenAI or Ollama.</param>
/// <param name="Scope">Key scope required (<see cref="LlmSecOps.Contracts.Keys.KeyScopes"/>).</param>
/// <param name="NamesModel">True when the body names a model that authorization must check.</param>
/// <param name="HasBody">True when the route takes a JSON request body.</param>
public sealed record InferenceRoute(
    EndpointId Id,
    string Method,
    string Path,
    ApiFamily Family,
    string Scope,
    bool NamesModel,
    bool HasBody)
{
    /// <summary>The <c>endpoint</c> field of request events: <c>"POST /v1/chat/completions"</c>.</summary>
    public string Endpoint { get; } = Method + " " + Path;

    /// <summary>True for routes whose response may stream (chat and completions).</summary>
    public bool CanStream => Id is EndpointId.OpenAiChatCompletions or EndpointId.OpenAiCompletions
        or EndpointId.OllamaChat or EndpointId.OllamaGenerate;

    /// <summary>True for routes that generate tokens (so max_tokens applies).</summary>
    public bool Generates => CanStream;
}

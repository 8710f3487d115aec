using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.Inference.Routing;

/// <summary>Why a request was not matched to an allowed route.</summary>
public enum RouteRefusal
{
    /// <summary>Matched (not a refusal).</summary>
    None,

    /// <summary>The canonical path is not on the allow-list. Suggested status: 404.</summary>
    UnknownRoute,

    /// <summary>The canonical path exists but not with this method. Suggested status: 405.</summary>
    MethodNotAllowed,

    /// <summary>
    /// The raw path is not in canonical form (encoding, dot segments, doubled or trailing slashes, case, matrix
    /// parameters, backslashes, control or non-ASCII characters). Suggested status: 400.
    /// </summary>
    NonCanonicalPath,

    /// <summary>
    /// The path, however spelled, aims at an Ollama model-management route (pull, push, create, copy, delete, blobs,
    /// ps). Always refused; worth a security log line. Suggested status: 404.
    /// </summary>
    ManagementRoute,
}

/// <summary>The outcome of <see cref="RouteTable.Match"/>.</summary>
/// <param name="Route">The canonical route when matched, else null.</param>
/// <param name="Refusal">Why not, when not matched.</param>
public readonly record struct RouteMatch(InferenceRoute? Route, RouteRefusal Refusal)
{
    /// <summary>True when an allowed route matched.</summary>
    public bool IsMatch => Route is not null;
}

/// <summary>
/// The data-plane allow-list of (method, path).
/// <para>
/// Decision: non-canonical spellings of allowed routes are REFUSED, not canonicalised. Only the exact bytes of a
/// canonical path match. RFC 3986 §6 describes normalisation (case, percent-encoding, dot segments) as something
/// different components do differently; every place two components normalise a path differently is a
/// path-confusion bug waiting to happen (CVE-2021-41773 / CVE-2021-42013: Apache's `%2e` and double-encoded
/// `%%32%65` traversal; the long CVE series of `..;/` matrix-parameter bypasses between proxies and Java servers).
/// Real clients (the OpenAI and Ollama SDKs) always send canonical paths, so refusing costs legitimate users
/// nothing, and the canonical route (never the raw path) is what is forwarded upstream.
/// </para>
/// <para>
/// Give it the raw request target (Kestrel's <c>IHttpRequestFeature.RawTarget</c>), not <c>HttpRequest.Path</c>,
/// which Kestrel has already percent-decoded and dot-segment-normalised. A query string is split off and ignored
/// (it is not forwarded: the canonical route carries none).
/// </para>
/// </summary>
public static class RouteTable
{
    /// <summary>Every allowed route.</summary>
    public static IReadOnlyList<InferenceRoute> All => s_routes;

    private static readonly InferenceRoute[] s_routes =
    [
        new(EndpointId.OpenAiChatCompletions, "POST", "/v1/chat/completions", ApiFamily.OpenAi, KeyScopes.Chat, NamesModel: true, HasBody: true),
        new(EndpointId.OpenAiCompletions, "POST", "/v1/completions", ApiFamily.OpenAi, KeyScopes.Completions, NamesModel: true, HasBody: true),
        new(EndpointId.OpenAiEmbeddings, "POST", "/v1/embeddings", ApiFamily.OpenAi, KeyScopes.Embeddings, NamesModel: true, HasBody: true),
        new(EndpointId.OpenAiModels, "GET", "/v1/models", ApiFamily.OpenAi, KeyScopes.Models, NamesModel: false, HasBody: false),
        new(EndpointId.OllamaChat, "POST", "/api/chat", ApiFamily.Ollama, KeyScopes.Chat, NamesModel: true, HasBody: true),
        new(EndpointId.OllamaGenerate, "POST", "/api/generate", ApiFamily.Ollama, KeyScopes.Completions, NamesModel: true, HasBody: true),
        new(EndpointId.OllamaEmbed, "POST", "/api/embed", ApiFamily.Ollama, KeyScopes.Embeddings, NamesModel: true, HasBody: true),
        new(EndpointId.OllamaEmbeddings, "POST", "/api/embeddings", ApiFamily.Ollama, KeyScopes.Embeddings, NamesModel: true, HasBody: true),
        new(EndpointId.OllamaTags, "GET", "/api/tags", ApiFamily.Ollama, KeyScopes.Models, NamesModel: false, HasBody: false),
        new(EndpointId.OllamaShow, "POST", "/api/show", ApiFamily.Ollama, KeyScopes.Models, NamesModel: true, HasBody: true),
        new(EndpointId.OllamaVersion, "GET", "/api/version", ApiFamily.Ollama, KeyScopes.Models, NamesModel: false, HasBody: false),
    ];

    // Ollama's model-management surface (ARCHITECTURE.md): refused however spelled; listed to classify refusals.
    private static readonly string[] s_managementPrefixes =
        ["/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs", "/api/ps"];

    /// <summary>Looks up a route by its id.</summary>
    public static InferenceRoute Get(EndpointId id) => s_routes[(int)id];

    /// <summary>
    /// Matches a method and raw request target (path and optional query) against the allow-list.
    /// Allocation-free on the success path.
    /// </summary>
    public static RouteMatch Match(ReadOnlySpan<char> method, ReadOnlySpan<char> rawTarget)
    {
        var query = rawTarget.IndexOf('?');
        var path = query >= 0 ? rawTarget[..query] : rawTarget;

        InferenceRoute? samePath = null;
        foreach (var route in s_routes)
        {
            if (path.SequenceEqual(route.Path))
            {
                if (method.SequenceEqual(route.Method))
                {
                    return new RouteMatch(route, RouteRefusal.None);
                }

                samePath = route;
            }
        }

        if (samePath is not null)
        {
            return new RouteMatch(null, RouteRefusal.MethodNotAllowed);
        }

        return new RouteMatch(null, Classify(path));
    }

    /// <summary>
    /// Explains a refusal. Only used to pick the refusal reason (and a security log line); it never makes a path
    /// acceptable. Decodes like the most lenient component a request might meet could (repeated percent-decoding,
    /// backslashes as slashes, case folding, matrix parameters dropped, dot segments resolved).
    /// </summary>
    private static RouteRefusal Classify(ReadOnlySpan<char> path)
    {
        var lenient = LenientNormalize(path);
        foreach (var prefix in s_managementPrefixes)
        {
            if (lenient.StartsWith(prefix, StringComparison.Ordinal)
                && (lenient.Length == prefix.Length || lenient[prefix.Length] is '/' or ':'))
            {
                return RouteRefusal.ManagementRoute;
            }
        }

        foreach (var route in All)
        {
            if (lenient == route.Path)
            {
                return RouteRefusal.NonCanonicalPath;
            }
        }

        return IsCanonicalShape(path) ? RouteRefusal.UnknownRoute : RouteRefusal.NonCanonicalPath;
    }

    /// <summary>True when every character is one a canonical path may hold and no segment is empty or a dot segment.</summary>
    private static bool IsCanonicalShape(ReadOnlySpan<char> path)
    {
        if (path is "/")
        {
            return true;
        }

        if (path.Length < 2 || path[0] != '/' || path[^1] == '/')
        {
            return false;
        }

        foreach (var c in path)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '/' or '-' or '_'))
            {
                return false;
            }
        }

        return !path.Contains("//", StringComparison.Ordinal) && !path.Contains("/.", StringComparison.Ordinal);
    }

    internal static string LenientNormalize(ReadOnlySpan<char> path)
    {
        var s = path.ToString();

        // Decode repeatedly: double (%252F) and triple encodings collapse (CVE-2021-42013 was a double decode).
        for (var i = 0; i < 4 && s.Contains('%', StringComparison.Ordinal); i++)
        {
            s = Uri.UnescapeDataString(s);
        }

        var chars = new System.Text.StringBuilder(s.Length);
        foreach (var c in s)
        {
            if (c == '\\')
            {
                chars.Append('/');
            }
            else if (c >= ' ' && c != '\u007f')
            {
                chars.Append(char.ToLowerInvariant(c));
            }
        }

        var segments = new List<string>();
        foreach (var raw in chars.ToString().Split('/'))
        {
            var seg = raw;
            var semicolon = seg.IndexOf(';', StringComparison.Ordinal);
            if (semicolon >= 0)
            {
                seg = seg[..semicolon];
            }

            seg = seg.Trim();
            if (seg.Length == 0 || seg == ".")
            {
                continue;
            }

            if (seg == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                continue;
            }

            segments.Add(seg);
        }

        return "/" + string.Join('/', segments);
    }
}

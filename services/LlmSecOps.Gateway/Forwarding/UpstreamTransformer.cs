using System.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace LlmSecOps.Gateway.Forwarding;

/// <summary>
/// Rewrites a client request into the upstream request: the canonical route (never the raw client path, never its
/// query string), the policy-rewritten body, and no client credential.
/// </summary>
internal sealed class UpstreamTransformer(Uri upstream, string canonicalPath, ReadOnlyMemory<byte> body, string? upstreamApiKey,
    Action<HttpContext, HttpResponseMessage?> onResponse) : HttpTransformer
{
    /// <inheritdoc />
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);

        // The raw key never reaches the upstream (ARCHITECTURE.md "API keys").
        proxyRequest.Headers.Remove("Authorization");
        proxyRequest.Headers.Remove("x-api-key");
        proxyRequest.Headers.Remove("Cookie");
        if (upstreamApiKey is not null)
        {
            proxyRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", upstreamApiKey);
        }

        proxyRequest.RequestUri = new Uri(upstream, canonicalPath);
        proxyRequest.Headers.Host = null;
        if (body.Length > 0 || HttpMethods.IsPost(httpContext.Request.Method))
        {
            // The policy may have rewritten max_tokens and friends: forward exactly those bytes with their own length
            // (the client's Content-Length and Transfer-Encoding do not describe them; RFC 9112 §6.3 on smuggling).
            var content = new ReadOnlyMemoryContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            proxyRequest.Content = content;
        }
    }

    /// <inheritdoc />
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copy = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        // The body is transformed (redaction, final error frames): its length is not the upstream's.
        httpContext.Response.Headers.ContentLength = null;
        httpContext.Response.ContentLength = null;
        onResponse(httpContext, proxyResponse);
        return copy;
    }
}

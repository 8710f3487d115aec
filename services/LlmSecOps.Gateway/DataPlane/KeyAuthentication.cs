using System.Text.Json;
using LlmSecOps.Gateway.Keys;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>The two client APIs of the data plane; each has its own error body.</summary>
public enum ApiFormat
{
    /// <summary>OpenAI (<c>/v1</c>): <c>{"error":{"message","type","code"}}</c>.</summary>
    OpenAI,

    /// <summary>Ollama (<c>/api</c>): <c>{"error":"..."}</c>.</summary>
    Ollama,
}

/// <summary>The authenticated caller of a data-plane request.</summary>
/// <param name="Key">The key's record.</param>
/// <param name="Tenant">Its tenant.</param>
public sealed record DataPlaneCaller(KeyRecord Key, TenantInfo Tenant);

/// <summary>
/// Key authentication for the data plane, applied once to a route group so every route inherits it: the key comes
/// from <c>Authorization: Bearer</c> or <c>x-api-key</c>; any unusable credential is a 401 and a suspended tenant a
/// 403, in the API's own error format. Handlers read the caller with <see cref="Caller"/>.
/// </summary>
public static class KeyAuthentication
{
    private const string CallerKey = "llmsecops.dataplane.caller";

    /// <summary>The authenticated caller of the current request.</summary>
    public static DataPlaneCaller Caller(this HttpContext context) =>
        context.Items[CallerKey] as DataPlaneCaller ?? throw new InvalidOperationException("Data-plane request without an authenticated key.");

    /// <summary>Adds key authentication to a route group.</summary>
    public static RouteGroupBuilder RequireKeyAuthentication(this RouteGroupBuilder group, ApiFormat format)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var presented = PresentedKey(http.Request);
            var authenticator = http.RequestServices.GetRequiredService<KeyAuthenticator>();
            var result = await authenticator.AuthenticateAsync(presented, http.RequestAborted);
            if (!result.Succeeded)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Error(format, StatusCodes.Status401Unauthorized, Message(result.Failure), "invalid_request_error", "invalid_api_key");
            }

            var tenant = await http.RequestServices.GetRequiredService<TenantDirectory>().GetAsync(result.Key!.TenantId, http.RequestAborted);
            if (tenant is null || !tenant.IsActive)
            {
                return Error(format, StatusCodes.Status403Forbidden, "The tenant of this API key is suspended.", "permission_error", "tenant_suspended");
            }

            http.Items[CallerKey] = new DataPlaneCaller(result.Key, tenant);
            return await next(context);
        });
        return group;
    }

    /// <summary>An error in the API's own format.</summary>
    public static IResult Error(ApiFormat format, int status, string message, string type, string code) =>
        format == ApiFormat.OpenAI
            ? Results.Json(new { error = new { message, type, code } }, JsonSerializerOptions.Web, statusCode: status)
            : Results.Json(new { error = message }, JsonSerializerOptions.Web, statusCode: status);

    /// <summary>The presented key: a bearer token, else <c>x-api-key</c>; null when neither is sent.</summary>
    public static string? PresentedKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization;
        if (authorization.Count == 1 && authorization[0] is { } header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        var apiKey = request.Headers["x-api-key"];
        return apiKey.Count == 1 ? apiKey[0]?.Trim() : null;
    }

    private static string Message(KeyAuthFailure failure) => failure switch
    {
        KeyAuthFailure.Missing => "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
        KeyAuthFailure.Malformed => "Invalid API key: not an LlmSecOps key (lso_...) or its checksum is wrong.",
        KeyAuthFailure.Revoked => "This API key has been revoked.",
        KeyAuthFailure.Expired => "This API key has expired.",
        _ => "Invalid API key.",
    };
}

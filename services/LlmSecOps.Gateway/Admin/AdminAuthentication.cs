using Microsoft.Net.Http.Headers;

namespace LlmSecOps.Gateway.Admin;

/// <summary>
/// The admin API's authentication and role check, applied once to the whole <c>/admin</c> group so every route
/// inherits it: 401 without a valid bearer token, 403 when the route's <see cref="AllowedRolesMetadata"/> does not
/// admit the caller's role (a route without that metadata admits nobody).
/// </summary>
public static partial class AdminAuthentication
{
    private const string PrincipalKey = "llmsecops.admin.principal";

    /// <summary>The caller of the current admin request.</summary>
    public static AdminPrincipal Principal(this HttpContext context) =>
        context.Items[PrincipalKey] as AdminPrincipal ?? throw new InvalidOperationException("Admin request without an authenticated principal.");

    /// <summary>Declares the roles a route is open to.</summary>
    public static TBuilder AllowRoles<TBuilder>(this TBuilder builder, params AdminRole[] roles)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new AllowedRolesMetadata(roles));
        return builder;
    }

    /// <summary>Adds the filter to a route group.</summary>
    public static RouteGroupBuilder RequireAdminAuthentication(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var store = http.RequestServices.GetRequiredService<AdminTokenStore>();
            var header = http.Request.Headers.Authorization.ToString();
            AdminPrincipal? principal = null;
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                principal = await store.AuthenticateAsync(header["Bearer ".Length..].Trim(), http.RequestAborted);
            }

            if (principal is null)
            {
                http.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer realm=\"llmsecops-admin\"";
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Authentication required.",
                    detail: "Send an admin or service token as `Authorization: Bearer <token>`.");
            }

            var allowed = http.GetEndpoint()?.Metadata.GetMetadata<AllowedRolesMetadata>();
            if (allowed is null || !AdminRoles.Satisfies(principal.Role, allowed.Roles))
            {
                var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("LlmSecOps.Gateway.Admin");
                LogForbidden(logger, principal.TokenId, AdminRoles.Name(principal.Role), http.Request.Method, http.Request.Path);
                return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden.",
                    detail: $"Role '{AdminRoles.Name(principal.Role)}' may not use this route.");
            }

            http.Items[PrincipalKey] = principal;
            return await next(context);
        });
        return group;
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Admin token {TokenId} with role {Role} refused on {Method} {Path}")]
    private static partial void LogForbidden(ILogger logger, string tokenId, string role, string method, string path);
}

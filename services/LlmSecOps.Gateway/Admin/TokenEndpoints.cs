using Dapper;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Validation;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Admin;

/// <summary><c>POST /admin/tokens</c>.</summary>
public sealed class IssueTokenRequest
{
    public string? Role { get; set; }
    public string? Name { get; set; }
}

/// <summary>Admin/service token routes (admin only).</summary>
public static class TokenEndpoints
{
    /// <summary>Maps the routes onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapTokenEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPost("/tokens", IssueAsync).AllowRoles(AdminRole.Admin);
        admin.MapGet("/tokens", ListAsync).AllowRoles(AdminRole.Admin);
        admin.MapDelete("/tokens/{tokenId}", RevokeAsync).AllowRoles(AdminRole.Admin);
        return admin;
    }

    private static async Task<IResult> IssueAsync(HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<IssueTokenRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        problems.Check(AdminRoles.TryParse(request!.Role, out var role), "role", "One of admin, operator, auditor, service.");
        var name = request.Name?.Trim();
        problems.Check(!string.IsNullOrEmpty(name) && name.Length <= 100, "name", "A name of 1-100 characters (who or what uses the token).");
        if (!problems.IsEmpty)
        {
            return problems.ToResult();
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var (id, token) = await AdminTokenStore.IssueAsync(connection, transaction, role, name!, principal.Actor);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "token.issue", id, new { role = AdminRoles.Name(role), name });
            return Results.Created($"/admin/tokens/{id}", new { id, token, role = AdminRoles.Name(role), name });
        }, ct);
    }

    private static async Task<IResult> ListAsync(GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<TokenRow>(new CommandDefinition(
            "SELECT id, name, role, created_at, created_by, revoked_at FROM admin_tokens ORDER BY created_at, id", cancellationToken: ct));
        return Results.Ok(rows);
    }

    private static async Task<IResult> RevokeAsync(string tokenId, HttpContext http, GatewayDatabase db, CancellationToken ct)
    {
        if (!Ids.LooksValid(tokenId))
        {
            return AdminResults.NotFound("Token", tokenId);
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE id = @tokenId)", new { tokenId }, transaction);
            if (!exists)
            {
                return AdminResults.NotFound("Token", tokenId);
            }

            var changed = await connection.ExecuteAsync("UPDATE admin_tokens SET revoked_at = now() WHERE id = @tokenId AND revoked_at IS NULL", new { tokenId }, transaction);
            if (changed > 0)
            {
                await AuditChain.AppendAsync(connection, transaction, principal.Actor, "token.revoke", tokenId, null);
            }

            return Results.NoContent();
        }, ct);
    }

    private sealed record TokenRow(string Id, string Name, string Role, DateTime CreatedAt, string CreatedBy, DateTime? RevokedAt);
}

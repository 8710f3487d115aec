using System.Text.Json;
using Dapper;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Validation;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Incidents;

/// <summary><c>POST /admin/incidents</c>.</summary>
public sealed class OpenIncidentRequest
{
    public string? Source { get; set; }
    public string? KeyId { get; set; }
    public string? TenantId { get; set; }
    public string? Model { get; set; }
    public string? Summary { get; set; }
    public JsonElement? Evidence { get; set; }
}

/// <summary>Incident routes: open (service), list/get (auditor), acknowledge/resolve (operator).</summary>
public static class IncidentEndpoints
{
    /// <summary>Maps the routes onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapIncidentEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPost("/incidents", OpenAsync).AllowRoles(AdminRole.Service);
        admin.MapGet("/incidents", ListAsync).AllowRoles(AdminRole.Auditor);
        admin.MapGet("/incidents/{incidentId}", GetAsync).AllowRoles(AdminRole.Auditor);
        admin.MapPost("/incidents/{incidentId}/acknowledge", (string incidentId, HttpContext http, GatewayDatabase db, CancellationToken ct) =>
            SetStatusAsync(incidentId, "acknowledged", http, db, ct)).AllowRoles(AdminRole.Operator);
        admin.MapPost("/incidents/{incidentId}/resolve", (string incidentId, HttpContext http, GatewayDatabase db, CancellationToken ct) =>
            SetStatusAsync(incidentId, "resolved", http, db, ct)).AllowRoles(AdminRole.Operator);
        return admin;
    }

    private static async Task<IResult> OpenAsync(HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<OpenIncidentRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        problems.Check(request!.Source is not null && IncidentStore.Sources.Contains(request.Source), "source",
            $"Required, one of {string.Join(", ", IncidentStore.Sources)}.");
        var summary = request.Summary?.Trim();
        problems.Check(!string.IsNullOrEmpty(summary), "summary", "Describe the incident in one line.");
        problems.Check(summary is null || summary.Length <= 1000, "summary", "Summaries are limited to 1000 characters.");
        problems.Check(request.KeyId is null || KeyEndpoints.IsKeyId(request.KeyId), "keyId", "A key id is 12 base62 characters.");
        problems.Check(request.TenantId is null || Ids.LooksValid(request.TenantId), "tenantId", "Not a tenant id.");
        problems.Check(request.Model is null || request.Model.Length <= 200, "model", "Model names are limited to 200 characters.");
        string? evidence = null;
        if (request.Evidence is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } e)
        {
            evidence = e.GetRawText();
            problems.Check(evidence.Length <= IncidentStore.MaxEvidenceBytes, "evidence", $"Evidence is limited to {IncidentStore.MaxEvidenceBytes} bytes of JSON.");
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var tenantId = request.TenantId;
            if (request.KeyId is not null && KeyEndpoints.IsKeyId(request.KeyId))
            {
                var keyTenant = await connection.QuerySingleOrDefaultAsync<string?>("SELECT tenant_id FROM keys WHERE id = @keyId", new { keyId = request.KeyId }, transaction);
                problems.Check(keyTenant is not null, "keyId", $"No key has id '{request.KeyId}'.");
                problems.Check(keyTenant is null || tenantId is null || tenantId == keyTenant, "tenantId", "The key belongs to another tenant.");
                tenantId ??= keyTenant;
            }
            else if (tenantId is not null && Ids.LooksValid(tenantId))
            {
                var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @tenantId)", new { tenantId }, transaction);
                problems.Check(exists, "tenantId", $"No tenant has id '{tenantId}'.");
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            var incident = await IncidentStore.OpenAsync(connection, transaction, request.Source!, request.KeyId, tenantId, request.Model,
                summary!, evidence, principal.Actor);
            return Results.Created($"/admin/incidents/{incident.Id}", incident);
        }, ct);
    }

    private static async Task<IResult> ListAsync(string? keyId, string? source, string? status, string? tenantId, string? limit, GatewayDatabase db, CancellationToken ct)
    {
        var problems = new Problems();
        problems.Check(keyId is null || KeyEndpoints.IsKeyId(keyId), "keyId", "A key id is 12 base62 characters.");
        problems.Check(source is null || IncidentStore.Sources.Contains(source), "source", $"One of {string.Join(", ", IncidentStore.Sources)}.");
        problems.Check(status is null || IncidentStore.Statuses.Contains(status), "status", $"One of {string.Join(", ", IncidentStore.Statuses)}.");
        problems.Check(tenantId is null || Ids.LooksValid(tenantId), "tenantId", "Not a tenant id.");
        var take = 100;
        problems.Check(limit is null || (int.TryParse(limit, out take) && take is >= 1 and <= 1000), "limit", "An integer between 1 and 1000.");
        if (!problems.IsEmpty)
        {
            return problems.ToResult();
        }

        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<IncidentStore.IncidentRow>(new CommandDefinition(
            $"""
            {IncidentStore.SelectIncident}
            WHERE (@keyId::text IS NULL OR key_id = @keyId) AND (@source::text IS NULL OR source = @source)
              AND (@status::text IS NULL OR status = @status) AND (@tenantId::text IS NULL OR tenant_id = @tenantId)
            ORDER BY created_at DESC, id LIMIT @limit
            """, new { keyId, source, status, tenantId, limit = take }, cancellationToken: ct));
        return Results.Ok(rows.Select(r => r.ToResponse()));
    }

    private static async Task<IResult> GetAsync(string incidentId, GatewayDatabase db, CancellationToken ct)
    {
        if (!Ids.LooksValid(incidentId))
        {
            return AdminResults.NotFound("Incident", incidentId);
        }

        await using var connection = await db.OpenAsync(ct);
        var incident = await IncidentStore.LoadAsync(connection, incidentId);
        return incident is null ? AdminResults.NotFound("Incident", incidentId) : Results.Ok(incident);
    }

    private static async Task<IResult> SetStatusAsync(string incidentId, string status, HttpContext http, GatewayDatabase db, CancellationToken ct)
    {
        if (!Ids.LooksValid(incidentId))
        {
            return AdminResults.NotFound("Incident", incidentId);
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var current = await connection.QuerySingleOrDefaultAsync<string?>("SELECT status FROM incidents WHERE id = @incidentId FOR UPDATE", new { incidentId }, transaction);
            if (current is null)
            {
                return AdminResults.NotFound("Incident", incidentId);
            }

            if (current == "resolved" && status == "acknowledged")
            {
                return AdminResults.Conflict("Incident already resolved.", $"Incident {incidentId} is resolved; it cannot go back to acknowledged.");
            }

            if (current != status)
            {
                await connection.ExecuteAsync("UPDATE incidents SET status = @status, updated_at = now(), updated_by = @actor WHERE id = @incidentId",
                    new { incidentId, status, actor = principal.Actor }, transaction);
                await AuditChain.AppendAsync(connection, transaction, principal.Actor, "incident." + (status == "resolved" ? "resolve" : "acknowledge"), incidentId, new { from = current, to = status });
            }

            return Results.Ok(await IncidentStore.LoadAsync(connection, incidentId, transaction));
        }, ct);
    }
}

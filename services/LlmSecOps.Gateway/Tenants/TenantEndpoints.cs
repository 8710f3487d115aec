using System.Security.Cryptography;
using Dapper;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Validation;
using LlmSecOps.Gateway.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.Gateway.Tenants;

/// <summary>Tenant routes of the admin API: create, read, list, suspend/resume, policy, budget, erasure.</summary>
public static class TenantEndpoints
{
    /// <summary>Maps the routes onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapTenantEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPost("/tenants", CreateAsync).AllowRoles(AdminRole.Operator);
        admin.MapGet("/tenants", ListAsync).AllowRoles(AdminRole.Auditor);
        admin.MapGet("/tenants/{tenantId}", GetAsync).AllowRoles(AdminRole.Auditor);
        admin.MapPost("/tenants/{tenantId}/suspend", (string tenantId, HttpContext http, GatewayDatabase db, KeyStateBroadcaster b, CancellationToken ct) =>
            SetStatusAsync(tenantId, "suspended", http, db, b, ct)).AllowRoles(AdminRole.Operator);
        admin.MapPost("/tenants/{tenantId}/resume", (string tenantId, HttpContext http, GatewayDatabase db, KeyStateBroadcaster b, CancellationToken ct) =>
            SetStatusAsync(tenantId, "active", http, db, b, ct)).AllowRoles(AdminRole.Operator);
        admin.MapPut("/tenants/{tenantId}/policy", PutPolicyAsync).AllowRoles(AdminRole.Operator);
        admin.MapPut("/tenants/{tenantId}/budget", PutBudgetAsync).AllowRoles(AdminRole.Operator);
        admin.MapDelete("/tenants/{tenantId}/records", EraseRecordsAsync).AllowRoles(AdminRole.Admin);
        return admin;
    }

    internal const string SelectTenant =
        "SELECT id, name, tier, status, logging_policy, retention_days, guard_policy, webhook_url, daily_token_budget, monthly_token_budget, created_at, updated_at FROM tenants";

    /// <summary>Reads a tenant in the given connection/transaction.</summary>
    internal static async Task<TenantResponse?> LoadAsync(NpgsqlConnection connection, string tenantId, NpgsqlTransaction? transaction = null)
    {
        var row = await connection.QuerySingleOrDefaultAsync<TenantRow>($"{SelectTenant} WHERE id = @tenantId", new { tenantId }, transaction);
        return row?.ToResponse();
    }

    private static async Task<IResult> CreateAsync(HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<CreateTenantRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        var name = request!.Name?.Trim();
        problems.Check(!string.IsNullOrEmpty(name), "name", "A tenant name is required.");
        problems.Check(name is null || name.Length <= 200, "name", "Tenant names are limited to 200 characters.");
        var tier = request.Tier ?? "default";
        problems.Check(TenantRules.IsTierName(tier), "tier", "Tier names are 1-63 characters of a-z, 0-9, '-' and '_'.");

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            if (TenantRules.IsTierName(tier))
            {
                var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tiers WHERE name = @tier)", new { tier }, transaction);
                problems.Check(exists, "tier", $"Tier '{tier}' does not exist; create it with PUT /admin/tiers/{tier} or use 'default'.");
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            var id = Ids.New("ten");
            await connection.ExecuteAsync("INSERT INTO tenants (id, name, tier) VALUES (@id, @name, @tier)", new { id, name, tier }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "tenant.create", id, new { name, tier });
            var created = await LoadAsync(connection, id, transaction);
            return Results.Created($"/admin/tenants/{id}", created);
        }, ct);
    }

    private static async Task<IResult> ListAsync(GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<TenantRow>(new CommandDefinition($"{SelectTenant} ORDER BY created_at, id LIMIT 10000", cancellationToken: ct));
        return Results.Ok(rows.Select(r => r.ToResponse()));
    }

    private static async Task<IResult> GetAsync(string tenantId, GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var tenant = Ids.LooksValid(tenantId) ? await LoadAsync(connection, tenantId) : null;
        return tenant is null ? AdminResults.NotFound("Tenant", tenantId) : Results.Ok(tenant);
    }

    private static async Task<IResult> SetStatusAsync(string tenantId, string status, HttpContext http, GatewayDatabase db, KeyStateBroadcaster broadcaster, CancellationToken ct)
    {
        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var principal = http.Principal();
        var result = await db.InTransactionAsync<TenantResponse?>(async (connection, transaction) =>
        {
            var changed = await connection.ExecuteAsync(
                "UPDATE tenants SET status = @status, updated_at = now() WHERE id = @tenantId AND status <> @status", new { tenantId, status }, transaction);
            if (changed > 0)
            {
                await AuditChain.AppendAsync(connection, transaction, principal.Actor, status == "active" ? "tenant.resume" : "tenant.suspend", tenantId, new { status });
            }

            return await LoadAsync(connection, tenantId, transaction);
        }, ct);
        if (result is null)
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        await broadcaster.TenantChangedAsync(tenantId, ct);
        return Results.Ok(result);
    }

    private static async Task<IResult> PutPolicyAsync(string tenantId, HttpContext http, GatewayDatabase db, WebhookTargetGuard guard, WebhookSigner signer,
        KeyHasher hasher, KeyStateBroadcaster broadcaster, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<TenantPolicyRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        problems.Check(request!.LoggingPolicy is null or "none" or "metadata" or "redacted", "loggingPolicy", "Must be one of none, metadata, redacted.");
        problems.Check(request.RetentionDays is null or (>= 0 and <= 3650), "retentionDays", "Must be between 0 and 3650 days.");
        problems.Check(request.GuardPolicy is null or "flag" or "block", "guardPolicy", "Must be flag or block.");
        problems.Check(request.Tier is null || TenantRules.IsTierName(request.Tier), "tier", "Tier names are 1-63 characters of a-z, 0-9, '-' and '_'.");
        if (!string.IsNullOrEmpty(request.WebhookUrl))
        {
            var urlProblem = await guard.ValidateUrlAsync(request.WebhookUrl, ct);
            problems.Check(urlProblem is null, "webhookUrl", urlProblem ?? "");
        }

        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var principal = http.Principal();
        string? newSecret = null;
        var result = await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var current = await connection.QuerySingleOrDefaultAsync<TenantRow>($"{SelectTenant} WHERE id = @tenantId FOR UPDATE", new { tenantId }, transaction);
            if (current is null)
            {
                return AdminResults.NotFound("Tenant", tenantId);
            }

            if (request.Tier is not null && TenantRules.IsTierName(request.Tier))
            {
                var tierExists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tiers WHERE name = @tier)", new { tier = request.Tier }, transaction);
                problems.Check(tierExists, "tier", $"Tier '{request.Tier}' does not exist; create it with PUT /admin/tiers/{request.Tier}.");
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            var webhookUrl = request.WebhookUrl is null ? current.WebhookUrl : request.WebhookUrl.Length == 0 ? null : request.WebhookUrl;
            var newNonce = webhookUrl is not null && (webhookUrl != current.WebhookUrl || request.RotateWebhookSecret);
            string? nonce = null;
            if (newNonce)
            {
                nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                newSecret = signer.SecretFor(tenantId, nonce, hasher.CurrentVersion);
            }

            await connection.ExecuteAsync(
                """
                UPDATE tenants SET tier = @tier, logging_policy = @loggingPolicy, retention_days = @retentionDays, guard_policy = @guardPolicy,
                    webhook_url = @webhookUrl,
                    webhook_secret_nonce = CASE WHEN @webhookUrl IS NULL THEN NULL WHEN @newNonce THEN @nonce ELSE webhook_secret_nonce END,
                    webhook_pepper_version = CASE WHEN @webhookUrl IS NULL THEN NULL WHEN @newNonce THEN @pepper ELSE webhook_pepper_version END,
                    updated_at = now()
                WHERE id = @tenantId
                """,
                new
                {
                    tenantId,
                    tier = request.Tier ?? current.Tier,
                    loggingPolicy = request.LoggingPolicy ?? current.LoggingPolicy,
                    retentionDays = request.RetentionDays ?? current.RetentionDays,
                    guardPolicy = request.GuardPolicy ?? current.GuardPolicy,
                    webhookUrl,
                    newNonce,
                    nonce,
                    pepper = hasher.CurrentVersion,
                }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "tenant.policy", tenantId, new
            {
                request.Tier, request.LoggingPolicy, request.RetentionDays, request.GuardPolicy, webhookUrl, webhookSecretRotated = newNonce,
            });
            var updated = await LoadAsync(connection, tenantId, transaction);
            return Results.Ok(new { tenant = updated, webhookSecret = newSecret });
        }, ct);
        if (request.Tier is not null)
        {
            await broadcaster.TenantChangedAsync(tenantId, ct);
        }

        return result;
    }

    private static async Task<IResult> PutBudgetAsync(string tenantId, HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<BudgetRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        TenantRules.CheckBudget(problems, request!);
        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @tenantId)", new { tenantId }, transaction);
            if (!exists)
            {
                return AdminResults.NotFound("Tenant", tenantId);
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            await connection.ExecuteAsync(
                "UPDATE tenants SET daily_token_budget = @daily, monthly_token_budget = @monthly, updated_at = now() WHERE id = @tenantId",
                new { tenantId, daily = request!.DailyTokens, monthly = request.MonthlyTokens }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "tenant.budget", tenantId, new { request.DailyTokens, request.MonthlyTokens });
            return Results.Ok(await LoadAsync(connection, tenantId, transaction));
        }, ct);
    }

    private static async Task<IResult> EraseRecordsAsync(string tenantId, HttpContext http, GatewayDatabase db, IEnumerable<ITenantRecordEraser> erasers, CancellationToken ct)
    {
        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @tenantId)", new { tenantId }, transaction);
            if (!exists)
            {
                return AdminResults.NotFound("Tenant", tenantId);
            }

            var erased = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var eraser in erasers)
            {
                erased[eraser.Name] = await eraser.EraseAsync(connection, transaction, tenantId, ct);
            }

            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "tenant.erase-records", tenantId, new { erased });
            return Results.Ok(new { tenantId, erased });
        }, ct);
    }

    internal sealed class TenantRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Tier { get; set; } = "";
        public string Status { get; set; } = "";
        public string LoggingPolicy { get; set; } = "";
        public int RetentionDays { get; set; }
        public string GuardPolicy { get; set; } = "";
        public string? WebhookUrl { get; set; }
        public long? DailyTokenBudget { get; set; }
        public long? MonthlyTokenBudget { get; set; }
        public DateTime CreatedAt { get; set; }
        public DateTime UpdatedAt { get; set; }

        public TenantResponse ToResponse() => new(Id, Name, Tier, Status,
            new TenantPolicyResponse(LoggingPolicy, RetentionDays, GuardPolicy, WebhookUrl),
            new BudgetResponse(DailyTokenBudget, MonthlyTokenBudget),
            DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc), DateTime.SpecifyKind(UpdatedAt, DateTimeKind.Utc));
    }
}

/// <summary>
/// Erases one kind of a tenant's request records inside the erasure transaction (<c>DELETE /admin/tenants/{id}/records</c>).
/// The data plane registers one for its request-record table; the usage table is kept (billing) unless an eraser removes it.
/// </summary>
public interface ITenantRecordEraser
{
    /// <summary>Name reported in the response (e.g. <c>requestRecords</c>).</summary>
    string Name { get; }

    /// <summary>Deletes the tenant's rows; returns how many.</summary>
    Task<long> EraseAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string tenantId, CancellationToken cancellationToken);
}

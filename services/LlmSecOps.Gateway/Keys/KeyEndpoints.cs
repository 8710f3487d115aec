using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Incidents;
using LlmSecOps.Gateway.Tenants;
using LlmSecOps.Gateway.Validation;
using LlmSecOps.Gateway.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.Gateway.Keys;

/// <summary>Key routes of the admin API: issue, list, get, rotate, revoke, reinstate, look-up by token hash, budget.</summary>
public static class KeyEndpoints
{
    /// <summary>Longest rotation grace period (30 days).</summary>
    public const int MaxGraceSeconds = 30 * 24 * 3600;

    /// <summary>Maps the routes onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapKeyEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPost("/tenants/{tenantId}/keys", IssueAsync).AllowRoles(AdminRole.Operator);
        admin.MapGet("/tenants/{tenantId}/keys", ListAsync).AllowRoles(AdminRole.Auditor);
        admin.MapPost("/keys/lookup", LookupAsync).AllowRoles(AdminRole.Service, AdminRole.Admin);
        admin.MapGet("/keys/{keyId}", GetAsync).AllowRoles(AdminRole.Auditor);
        admin.MapPost("/keys/{keyId}/rotate", RotateAsync).AllowRoles(AdminRole.Operator);
        admin.MapPost("/keys/{keyId}/revoke", RevokeAsync).AllowRoles(AdminRole.Operator, AdminRole.Service);
        admin.MapPost("/keys/{keyId}/reinstate", ReinstateAsync).AllowRoles(AdminRole.Admin);
        admin.MapPut("/keys/{keyId}/budget", PutBudgetAsync).AllowRoles(AdminRole.Operator);
        return admin;
    }

    /// <summary>True for a syntactically valid public key id.</summary>
    public static bool IsKeyId(string? keyId) => keyId is { Length: ApiKey.IdLength } && keyId.All(Base62.IsDigit);

    private static async Task<IResult> IssueAsync(string tenantId, HttpContext http, GatewayDatabase db, KeyHasher hasher,
        IOptions<ControlPlaneOptions> options, TimeProvider time, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<IssueKeyRequest>(http.Request, options.Value.MaxRequestBodyBytes, allowEmpty: true);
        if (error is not null)
        {
            return error;
        }

        request ??= new IssueKeyRequest();
        var now = time.GetUtcNow();
        var problems = new Problems();
        problems.Check(request.Name is null || request.Name.Length <= 200, "name", "Key names are limited to 200 characters.");
        problems.Check(request.Env is null or "live" or "test", "env", "Must be live or test.");
        var scopes = request.Scopes ?? [.. KeyScopes.All];
        problems.Check(scopes.Count > 0, "scopes", $"At least one scope: {string.Join(", ", KeyScopes.All)}.");
        for (var i = 0; i < scopes.Count; i++)
        {
            problems.Check(KeyScopes.All.Contains(scopes[i]), $"scopes[{i}]", $"'{scopes[i]}' is not a scope; use {string.Join(", ", KeyScopes.All)}.");
        }

        problems.Check(scopes.Distinct().Count() == scopes.Count, "scopes", "Scopes must not repeat.");
        problems.Check(request.ExpiresAt is null || request.ExpiresAt > now, "expiresAt", "Must be in the future.");
        problems.Check(request.ExpiresAt is null || request.ExpiresAt < now.AddYears(10), "expiresAt", "Must be within 10 years.");
        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var principal = http.Principal();
        var env = request.Env == "test" ? KeyEnvironment.Test : KeyEnvironment.Live;
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var tenantExists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @tenantId)", new { tenantId }, transaction);
            if (!tenantExists)
            {
                return AdminResults.NotFound("Tenant", tenantId);
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            var (row, key) = await InsertKeyAsync(connection, transaction, hasher, tenantId, request.Name, env, [.. scopes],
                request.ExpiresAt?.UtcDateTime, principal.Actor, rotatedFrom: null, dailyBudget: null, monthlyBudget: null);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "key.issue", row.Id,
                new { tenantId, request.Name, env = row.Env, scopes, expiresAt = row.ExpiresAt });
            return Results.Created($"/admin/keys/{row.Id}", row.ToResponse(now.UtcDateTime, key));
        }, ct);
    }

    private static async Task<(KeyRow Row, string Key)> InsertKeyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, KeyHasher hasher,
        string tenantId, string? name, KeyEnvironment env, string[] scopes, DateTime? expiresAt, string actor, string? rotatedFrom,
        long? dailyBudget, long? monthlyBudget)
    {
        // 12 base62 chars give ~71 bits: a collision is astronomically unlikely, but the primary key would refuse it,
        // so we pick the id first and check it, rather than fail the whole request.
        string id;
        do
        {
            id = ApiKey.NewId();
        }
        while (await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM keys WHERE id = @id)", new { id }, transaction));

        var key = ApiKey.Create(env, id);
        var hash = hasher.HashKey(key);
        var row = await connection.QuerySingleAsync<KeyRow>(
            $"""
            INSERT INTO keys (id, tenant_id, name, env, scopes, key_hash, pepper_version, created_by, expires_at, rotated_from, daily_token_budget, monthly_token_budget)
            VALUES (@id, @tenantId, @name, @env, @scopes, @hash, @version, @actor, @expiresAt, @rotatedFrom, @dailyBudget, @monthlyBudget)
            RETURNING {KeyRow.Select["SELECT ".Length..KeyRow.Select.IndexOf(" FROM", StringComparison.Ordinal)]}
            """,
            new
            {
                id, tenantId, name, env = env == KeyEnvironment.Test ? "test" : "live", scopes, hash, version = hasher.CurrentVersion, actor,
                expiresAt, rotatedFrom, dailyBudget, monthlyBudget,
            }, transaction);
        return (row, key);
    }

    private static async Task<IResult> ListAsync(string tenantId, GatewayDatabase db, TimeProvider time, CancellationToken ct)
    {
        if (!Ids.LooksValid(tenantId))
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        await using var connection = await db.OpenAsync(ct);
        var exists = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE id = @tenantId)", new { tenantId }, cancellationToken: ct));
        if (!exists)
        {
            return AdminResults.NotFound("Tenant", tenantId);
        }

        var now = time.GetUtcNow().UtcDateTime;
        var rows = await connection.QueryAsync<KeyRow>(new CommandDefinition(
            $"{KeyRow.Select} WHERE tenant_id = @tenantId ORDER BY created_at, id", new { tenantId }, cancellationToken: ct));
        return Results.Ok(rows.Select(r => r.ToResponse(now)));
    }

    private static async Task<IResult> GetAsync(string keyId, GatewayDatabase db, TimeProvider time, CancellationToken ct)
    {
        if (!IsKeyId(keyId))
        {
            return AdminResults.NotFound("Key", keyId);
        }

        await using var connection = await db.OpenAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<KeyRow>(new CommandDefinition($"{KeyRow.Select} WHERE id = @keyId", new { keyId }, cancellationToken: ct));
        return row is null ? AdminResults.NotFound("Key", keyId) : Results.Ok(row.ToResponse(time.GetUtcNow().UtcDateTime));
    }

    private static async Task<IResult> RotateAsync(string keyId, HttpContext http, GatewayDatabase db, KeyHasher hasher, KeyStateBroadcaster broadcaster,
        IOptions<ControlPlaneOptions> options, TimeProvider time, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<RotateKeyRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        problems.Check(request!.GraceSeconds is >= 0 and <= MaxGraceSeconds, "graceSeconds",
            $"Required: seconds the old key keeps working, 0 to {MaxGraceSeconds}.");
        if (!IsKeyId(keyId))
        {
            return AdminResults.NotFound("Key", keyId);
        }

        var principal = http.Principal();
        var now = time.GetUtcNow().UtcDateTime;
        var rotated = false;
        var result = await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var old = await connection.QuerySingleOrDefaultAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId FOR UPDATE", new { keyId }, transaction);
            if (old is null)
            {
                return AdminResults.NotFound("Key", keyId);
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            if (old.EffectiveStatus(now) != "active")
            {
                return AdminResults.Conflict("Key cannot be rotated.", $"Key {keyId} is {old.EffectiveStatus(now)}; only active keys rotate.");
            }

            var graceEnd = now.AddSeconds(request.GraceSeconds!.Value);
            var (row, key) = await InsertKeyAsync(connection, transaction, hasher, old.TenantId, old.Name,
                old.Env == "test" ? KeyEnvironment.Test : KeyEnvironment.Live, old.Scopes, old.ExpiresAt is { } e ? DateTime.SpecifyKind(e, DateTimeKind.Utc) : null,
                principal.Actor, rotatedFrom: old.Id, old.DailyTokenBudget, old.MonthlyTokenBudget);
            await connection.ExecuteAsync(
                "UPDATE keys SET rotated_to = @newId, expires_at = LEAST(COALESCE(expires_at, @graceEnd), @graceEnd), updated_at = now() WHERE id = @keyId",
                new { keyId, newId = row.Id, graceEnd }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "key.rotate", keyId,
                new { newKeyId = row.Id, request.GraceSeconds, oldKeyExpiresAt = graceEnd });
            rotated = true;
            return Results.Created($"/admin/keys/{row.Id}", row.ToResponse(now, key));
        }, ct);
        if (rotated)
        {
            await broadcaster.KeyChangedAsync(keyId, ct);
        }

        return result;
    }

    private static async Task<IResult> RevokeAsync(string keyId, HttpContext http, GatewayDatabase db, KeyStateBroadcaster broadcaster,
        IOptions<ControlPlaneOptions> options, TimeProvider time, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<RevokeKeyRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        var reason = request!.Reason?.Trim();
        problems.Check(!string.IsNullOrEmpty(reason), "reason", "Say why the key is revoked.");
        problems.Check(reason is null || reason.Length <= 1000, "reason", "Reasons are limited to 1000 characters.");
        problems.Check(request.Source is null || IncidentStore.Sources.Contains(request.Source), "source",
            $"Must be one of {string.Join(", ", IncidentStore.Sources)} (or left out).");
        string? evidence = null;
        if (request.Evidence is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } e)
        {
            evidence = e.GetRawText();
            problems.Check(evidence.Length <= IncidentStore.MaxEvidenceBytes, "evidence", $"Evidence is limited to {IncidentStore.MaxEvidenceBytes} bytes of JSON.");
        }

        if (!IsKeyId(keyId))
        {
            return AdminResults.NotFound("Key", keyId);
        }

        var principal = http.Principal();
        var now = time.GetUtcNow().UtcDateTime;
        var changed = false;
        var result = await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var current = await connection.QuerySingleOrDefaultAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId FOR UPDATE", new { keyId }, transaction);
            if (current is null)
            {
                return AdminResults.NotFound("Key", keyId);
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            if (current.Status == "revoked")
            {
                // Idempotent: a second revoke (a watcher reporting the same leak twice) changes nothing and notifies nobody.
                return Results.Ok(current.ToResponse(now));
            }

            await connection.ExecuteAsync(
                """
                UPDATE keys SET status = 'revoked', revoked_at = now(), revoked_by = @actor, revoke_reason = @reason, revoke_source = @source,
                    revoke_evidence = @evidence, updated_at = now()
                WHERE id = @keyId
                """, new { keyId, actor = principal.Actor, reason, source = request.Source, evidence }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "key.revoke", keyId,
                new { tenantId = current.TenantId, reason, source = request.Source });
            string? incidentId = null;
            if (request.Source is not null)
            {
                var incident = await IncidentStore.OpenAsync(connection, transaction, request.Source, keyId, current.TenantId, null,
                    $"Key {keyId} revoked: {reason}", evidence, principal.Actor);
                incidentId = incident.Id;
            }
            else
            {
                await Outbox.EnqueueAsync(connection, transaction, current.TenantId, "key.revoked", new { keyId, reason, revokedBy = principal.Actor });
            }

            changed = true;
            var updated = await connection.QuerySingleAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId", new { keyId }, transaction);
            return Results.Ok(updated.ToResponse(now, incidentId: incidentId));
        }, ct);
        if (changed)
        {
            await broadcaster.KeyChangedAsync(keyId, ct);
        }

        return result;
    }

    private static async Task<IResult> ReinstateAsync(string keyId, HttpContext http, GatewayDatabase db, KeyStateBroadcaster broadcaster,
        TimeProvider time, CancellationToken ct)
    {
        if (!IsKeyId(keyId))
        {
            return AdminResults.NotFound("Key", keyId);
        }

        var principal = http.Principal();
        var now = time.GetUtcNow().UtcDateTime;
        var changed = false;
        var result = await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var current = await connection.QuerySingleOrDefaultAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId FOR UPDATE", new { keyId }, transaction);
            if (current is null)
            {
                return AdminResults.NotFound("Key", keyId);
            }

            if (current.Status == "active")
            {
                return Results.Ok(current.ToResponse(now));
            }

            await connection.ExecuteAsync(
                """
                UPDATE keys SET status = 'active', revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL, revoke_source = NULL,
                    revoke_evidence = NULL, reinstated_at = now(), reinstated_by = @actor, updated_at = now()
                WHERE id = @keyId
                """, new { keyId, actor = principal.Actor }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "key.reinstate", keyId, new
            {
                tenantId = current.TenantId,
                previousRevocation = new { current.RevokedAt, current.RevokedBy, current.RevokeReason, current.RevokeSource },
            });
            changed = true;
            var updated = await connection.QuerySingleAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId", new { keyId }, transaction);
            return Results.Ok(updated.ToResponse(now));
        }, ct);
        if (changed)
        {
            await broadcaster.KeyChangedAsync(keyId, ct);
        }

        return result;
    }

    private static async Task<IResult> LookupAsync(HttpContext http, GatewayDatabase db, KeyHasher hasher, IOptions<ControlPlaneOptions> options,
        TimeProvider time, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<LookupKeyRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var tokenHash = request!.TokenHash?.Trim().ToLowerInvariant();
        if (tokenHash is not { Length: 64 } || !tokenHash.All(Uri.IsHexDigit))
        {
            return new Problems().Add("tokenHash", "The lowercase hex SHA-256 of the full key (64 hex digits).").ToResult();
        }

        var tokenHashBytes = Convert.FromHexString(tokenHash);
        var candidates = hasher.Versions.Select(v => (Version: v, Hash: hasher.HashTokenHash(tokenHashBytes, v))).ToList();
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<LookupRow>(new CommandDefinition(
            "SELECT id, key_hash, pepper_version FROM keys WHERE key_hash = ANY(@hashes)",
            new { hashes = candidates.Select(c => c.Hash).ToArray() }, cancellationToken: ct));
        foreach (var row in rows)
        {
            // The index found it; confirm in constant time against the hash for the row's own pepper version.
            var expected = candidates.FirstOrDefault(c => c.Version == row.PepperVersion).Hash;
            if (expected is not null && CryptographicOperations.FixedTimeEquals(expected, row.KeyHash))
            {
                var key = await connection.QuerySingleAsync<KeyRow>(new CommandDefinition($"{KeyRow.Select} WHERE id = @id", new { id = row.Id }, cancellationToken: ct));
                return Results.Ok(new LookupKeyResponse(key.Id, key.TenantId, key.EffectiveStatus(time.GetUtcNow().UtcDateTime), key.Env));
            }
        }

        return Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Key not found.", detail: "No key has this token hash.");
    }

    private static async Task<IResult> PutBudgetAsync(string keyId, HttpContext http, GatewayDatabase db, KeyStateBroadcaster broadcaster,
        IOptions<ControlPlaneOptions> options, TimeProvider time, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<BudgetRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        TenantRules.CheckBudget(problems, request!);
        if (!IsKeyId(keyId))
        {
            return AdminResults.NotFound("Key", keyId);
        }

        var principal = http.Principal();
        var now = time.GetUtcNow().UtcDateTime;
        var result = await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var exists = await connection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM keys WHERE id = @keyId)", new { keyId }, transaction);
            if (!exists)
            {
                return AdminResults.NotFound("Key", keyId);
            }

            if (!problems.IsEmpty)
            {
                return problems.ToResult();
            }

            await connection.ExecuteAsync(
                "UPDATE keys SET daily_token_budget = @daily, monthly_token_budget = @monthly, updated_at = now() WHERE id = @keyId",
                new { keyId, daily = request!.DailyTokens, monthly = request.MonthlyTokens }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "key.budget", keyId, new { request!.DailyTokens, request.MonthlyTokens });
            var updated = await connection.QuerySingleAsync<KeyRow>($"{KeyRow.Select} WHERE id = @keyId", new { keyId }, transaction);
            return Results.Ok(updated.ToResponse(now));
        }, ct);
        return result;
    }

    private sealed class LookupRow
    {
        public string Id { get; set; } = "";
        public byte[] KeyHash { get; set; } = [];
        public int PepperVersion { get; set; }
    }
}

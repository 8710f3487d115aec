using System.Text.Json;
using System.Text.Json.Serialization;
using LlmSecOps.Gateway.Tenants;

namespace LlmSecOps.Gateway.Keys;

/// <summary>A key's metadata as the admin API returns it; <see cref="Key"/> is set only in the issue/rotate response.</summary>
public sealed record KeyResponse
{
    public required string Id { get; init; }

    /// <summary>The full key: returned once, when issued. Never stored, never logged.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Key { get; init; }

    public required string TenantId { get; init; }
    public string? Name { get; init; }
    public required string Env { get; init; }
    public required string[] Scopes { get; init; }

    /// <summary><c>active</c>, <c>expired</c> or <c>revoked</c>.</summary>
    public required string Status { get; init; }

    public required DateTime CreatedAt { get; init; }
    public required string CreatedBy { get; init; }
    public DateTime? ExpiresAt { get; init; }
    public string? RotatedFrom { get; init; }
    public string? RotatedTo { get; init; }
    public RevocationResponse? Revocation { get; init; }
    public DateTime? ReinstatedAt { get; init; }
    public string? ReinstatedBy { get; init; }
    public required BudgetResponse Budget { get; init; }

    /// <summary>The incident a revocation with a source opened (revoke response only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? IncidentId { get; init; }
}

/// <summary>Who revoked a key, when, why, on what evidence.</summary>
public sealed record RevocationResponse(DateTime RevokedAt, string RevokedBy, string Reason, string? Source, JsonElement? Evidence);

/// <summary><c>POST /admin/tenants/{tenantId}/keys</c>.</summary>
public sealed class IssueKeyRequest
{
    public string? Name { get; set; }
    public string? Env { get; set; }
    public List<string>? Scopes { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
}

/// <summary><c>POST /admin/keys/{keyId}/rotate</c>.</summary>
public sealed class RotateKeyRequest
{
    public int? GraceSeconds { get; set; }
}

/// <summary><c>POST /admin/keys/{keyId}/revoke</c>.</summary>
public sealed class RevokeKeyRequest
{
    public string? Reason { get; set; }
    public string? Source { get; set; }
    public JsonElement? Evidence { get; set; }
}

/// <summary><c>POST /admin/keys/lookup</c>.</summary>
public sealed class LookupKeyRequest
{
    public string? TokenHash { get; set; }
}

/// <summary>The look-up answer: enough for the watcher to decide, nothing secret.</summary>
public sealed record LookupKeyResponse(string Id, string TenantId, string Status, string Env);

internal sealed class KeyRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string? Name { get; set; }
    public string Env { get; set; } = "";
    public string[] Scopes { get; set; } = [];
    public string Status { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
    public DateTime? ExpiresAt { get; set; }
    public string? RotatedFrom { get; set; }
    public string? RotatedTo { get; set; }
    public DateTime? RevokedAt { get; set; }
    public string? RevokedBy { get; set; }
    public string? RevokeReason { get; set; }
    public string? RevokeSource { get; set; }
    public string? RevokeEvidence { get; set; }
    public DateTime? ReinstatedAt { get; set; }
    public string? ReinstatedBy { get; set; }
    public long? DailyTokenBudget { get; set; }
    public long? MonthlyTokenBudget { get; set; }

    public const string Select =
        "SELECT id, tenant_id, name, env, scopes, status, created_at, created_by, expires_at, rotated_from, rotated_to, revoked_at, revoked_by, " +
        "revoke_reason, revoke_source, revoke_evidence, reinstated_at, reinstated_by, daily_token_budget, monthly_token_budget FROM keys";

    public string EffectiveStatus(DateTime now) =>
        Status == "revoked" ? "revoked" : ExpiresAt is { } e && DateTime.SpecifyKind(e, DateTimeKind.Utc) <= now ? "expired" : "active";

    public KeyResponse ToResponse(DateTime now, string? key = null, string? incidentId = null) => new()
    {
        Id = Id,
        Key = key,
        TenantId = TenantId,
        Name = Name,
        Env = Env,
        Scopes = Scopes,
        Status = EffectiveStatus(now),
        CreatedAt = Utc(CreatedAt),
        CreatedBy = CreatedBy,
        ExpiresAt = ExpiresAt is { } e ? Utc(e) : null,
        RotatedFrom = RotatedFrom,
        RotatedTo = RotatedTo,
        Revocation = Status == "revoked" && RevokedAt is { } at
            ? new RevocationResponse(Utc(at), RevokedBy ?? "", RevokeReason ?? "", RevokeSource, Incidents.IncidentStore.ParseJson(RevokeEvidence))
            : null,
        ReinstatedAt = ReinstatedAt is { } r ? Utc(r) : null,
        ReinstatedBy = ReinstatedBy,
        Budget = new BudgetResponse(DailyTokenBudget, MonthlyTokenBudget),
        IncidentId = incidentId,
    };

    private static DateTime Utc(DateTime value) => DateTime.SpecifyKind(value, DateTimeKind.Utc);
}

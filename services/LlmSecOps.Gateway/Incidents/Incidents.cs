using System.Text.Json;
using Dapper;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Webhooks;
using Npgsql;

namespace LlmSecOps.Gateway.Incidents;

/// <summary>An incident as the admin API returns it.</summary>
public sealed record IncidentResponse(string Id, string Source, string? KeyId, string? TenantId, string? Model, string Summary,
    JsonElement? Evidence, string Status, DateTime CreatedAt, string CreatedBy, DateTime UpdatedAt, string? UpdatedBy);

/// <summary>Opening and reading incidents; used by the incident routes, by revocations with a source, and by the data plane (model digest).</summary>
public static class IncidentStore
{
    /// <summary>The sources of ARCHITECTURE.md.</summary>
    public static readonly string[] Sources = ["anomaly", "leak", "model-digest", "manual"];

    /// <summary>The statuses, in lifecycle order.</summary>
    public static readonly string[] Statuses = ["open", "acknowledged", "resolved"];

    /// <summary>Largest evidence accepted, in bytes of JSON.</summary>
    public const int MaxEvidenceBytes = 16 * 1024;

    internal const string SelectIncident =
        "SELECT id, source, key_id, tenant_id, model, summary, evidence, status, created_at, created_by, updated_at, updated_by FROM incidents";

    /// <summary>
    /// Opens an incident in the caller's transaction, audits it and queues the owner notification (when the tenant
    /// has a webhook) in the same transaction.
    /// </summary>
    public static async Task<IncidentResponse> OpenAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string source,
        string? keyId, string? tenantId, string? model, string summary, string? evidenceJson, string actor)
    {
        var id = Ids.New("inc");
        await connection.ExecuteAsync(
            """
            INSERT INTO incidents (id, source, key_id, tenant_id, model, summary, evidence, created_by)
            VALUES (@id, @source, @keyId, @tenantId, @model, @summary, @evidenceJson, @actor)
            """, new { id, source, keyId, tenantId, model, summary, evidenceJson, actor }, transaction);
        await AuditChain.AppendAsync(connection, transaction, actor, "incident.open", id, new { source, keyId, tenantId, model, summary });
        var incident = (await LoadAsync(connection, id, transaction))!;
        if (tenantId is not null)
        {
            await Outbox.EnqueueAsync(connection, transaction, tenantId, "incident.opened", incident);
        }

        return incident;
    }

    /// <summary>Reads one incident.</summary>
    public static async Task<IncidentResponse?> LoadAsync(NpgsqlConnection connection, string id, NpgsqlTransaction? transaction = null)
    {
        var row = await connection.QuerySingleOrDefaultAsync<IncidentRow>($"{SelectIncident} WHERE id = @id", new { id }, transaction);
        return row?.ToResponse();
    }

    internal static JsonElement? ParseJson(string? json) =>
        json is null ? null : JsonDocument.Parse(json).RootElement.Clone();

    internal sealed class IncidentRow
    {
        public string Id { get; set; } = "";
        public string Source { get; set; } = "";
        public string? KeyId { get; set; }
        public string? TenantId { get; set; }
        public string? Model { get; set; }
        public string Summary { get; set; } = "";
        public string? Evidence { get; set; }
        public string Status { get; set; } = "";
        public DateTime CreatedAt { get; set; }
        public string CreatedBy { get; set; } = "";
        public DateTime UpdatedAt { get; set; }
        public string? UpdatedBy { get; set; }

        public IncidentResponse ToResponse() => new(Id, Source, KeyId, TenantId, Model, Summary, ParseJson(Evidence), Status,
            DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc), CreatedBy, DateTime.SpecifyKind(UpdatedAt, DateTimeKind.Utc), UpdatedBy);
    }
}

using System.Text.Json;
using Dapper;
using LlmSecOps.Gateway.Admin;
using Npgsql;

namespace LlmSecOps.Gateway.Webhooks;

/// <summary>
/// The notification outbox: a notification is a row written in the same transaction as the change it announces,
/// so it is sent if and only if the change committed, and it survives restarts until delivered.
/// </summary>
public static class Outbox
{
    /// <summary>Queues a notification for the tenant's webhook; does nothing when the tenant has none. Returns the row id or null.</summary>
    public static async Task<long?> EnqueueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string tenantId, string eventType, object data)
    {
        var url = await connection.QuerySingleOrDefaultAsync<string?>(
            "SELECT webhook_url FROM tenants WHERE id = @tenantId", new { tenantId }, transaction);
        if (string.IsNullOrEmpty(url))
        {
            return null;
        }

        var payload = JsonSerializer.Serialize(new
        {
            id = Ids.New("evt"),
            type = eventType,
            occurredAt = DateTime.UtcNow,
            tenantId,
            data,
        }, JsonSerializerOptions.Web);
        return await connection.ExecuteScalarAsync<long>(
            "INSERT INTO webhook_outbox (tenant_id, event_type, payload) VALUES (@tenantId, @eventType, @payload) RETURNING id",
            new { tenantId, eventType, payload }, transaction);
    }
}

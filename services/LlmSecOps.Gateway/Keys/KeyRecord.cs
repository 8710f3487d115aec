using Dapper;
using Npgsql;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// What authentication needs to know about a key: its state and its stored hash (never the key). This is what the
/// in-process cache and the Redis status cache hold.
/// </summary>
public sealed record KeyRecord
{
    public required string Id { get; init; }
    public required string TenantId { get; init; }
    public required string Env { get; init; }
    public required string[] Scopes { get; init; }
    public required string Status { get; init; }
    public DateTime? ExpiresAt { get; init; }
    public required byte[] KeyHash { get; init; }
    public required int PepperVersion { get; init; }

    internal const string SelectColumns = "id, tenant_id, env, scopes, status, expires_at, key_hash, pepper_version";

    /// <summary>Reads one key's record from Postgres, or null.</summary>
    public static async Task<KeyRecord?> LoadAsync(NpgsqlConnection connection, string keyId, CancellationToken cancellationToken)
    {
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {SelectColumns} FROM keys WHERE id = @keyId", new { keyId }, cancellationToken: cancellationToken));
        return row?.ToRecord();
    }

    internal sealed class Row
    {
        public string Id { get; set; } = "";
        public string TenantId { get; set; } = "";
        public string Env { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public string Status { get; set; } = "";
        public DateTime? ExpiresAt { get; set; }
        public byte[] KeyHash { get; set; } = [];
        public int PepperVersion { get; set; }

        public KeyRecord ToRecord() => new()
        {
            Id = Id, TenantId = TenantId, Env = Env, Scopes = Scopes, Status = Status,
            ExpiresAt = ExpiresAt is { } e ? DateTime.SpecifyKind(e, DateTimeKind.Utc) : null,
            KeyHash = KeyHash, PepperVersion = PepperVersion,
        };
    }
}

using System.Security.Cryptography;
using System.Text;
using Dapper;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.Gateway.Admin;

/// <summary>
/// Admin and service bearer tokens. Tokens are 256-bit random strings (<c>lsoadm_</c> + 43 base62), stored as
/// SHA-256 only; the bootstrap token lives in configuration and is never written to the database.
/// </summary>
public sealed class AdminTokenStore
{
    /// <summary>Prefix of issued admin/service tokens.</summary>
    public const string Prefix = "lsoadm_";

    private readonly GatewayDatabase _database;
    private readonly Lazy<byte[]> _bootstrapHash;

    public AdminTokenStore(GatewayDatabase database, IOptions<ControlPlaneOptions> options)
    {
        _database = database;
        _bootstrapHash = new(() =>
        {
            var bootstrap = options.Value.ResolveBootstrapToken();
            // Without a token the options validator stops start-up; an all-zero hash can never match a SHA-256.
            return bootstrap is null ? new byte[32] : SHA256.HashData(Encoding.UTF8.GetBytes(bootstrap));
        });
    }

    /// <summary>Resolves a presented bearer token to its principal, or null.</summary>
    public async Task<AdminPrincipal?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        if (token.Length is 0 or > 512)
        {
            return null;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        if (CryptographicOperations.FixedTimeEquals(hash, _bootstrapHash.Value))
        {
            return new AdminPrincipal("bootstrap", "bootstrap", AdminRole.Admin);
        }

        if (!token.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        await using var connection = await _database.OpenAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<TokenRow>(new CommandDefinition(
            "SELECT id, name, role, token_hash FROM admin_tokens WHERE token_hash = @hash AND revoked_at IS NULL",
            new { hash }, cancellationToken: cancellationToken));
        if (row is null || !CryptographicOperations.FixedTimeEquals(row.TokenHash, hash) || !AdminRoles.TryParse(row.Role, out var role))
        {
            return null;
        }

        return new AdminPrincipal(row.Id, row.Name, role);
    }

    /// <summary>Issues a token inside the caller's transaction; returns (id, token). The token is shown once.</summary>
    public static async Task<(string Id, string Token)> IssueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        AdminRole role, string name, string createdBy)
    {
        Span<char> secret = stackalloc char[43];
        RandomNumberGenerator.GetItems(Base62.Alphabet.AsSpan(), secret);
        var token = Prefix + new string(secret);
        var id = Ids.New("tok");
        await connection.ExecuteAsync(
            "INSERT INTO admin_tokens (id, name, role, token_hash, created_by) VALUES (@id, @name, @role, @hash, @createdBy)",
            new { id, name, role = AdminRoles.Name(role), hash = SHA256.HashData(Encoding.UTF8.GetBytes(token)), createdBy }, transaction);
        return (id, token);
    }

    private sealed class TokenRow
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Role { get; set; } = "";
        public byte[] TokenHash { get; set; } = [];
    }
}

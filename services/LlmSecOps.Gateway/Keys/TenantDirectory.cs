using System.Collections.Concurrent;
using Dapper;
using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>What the data plane needs to know about a key's tenant.</summary>
/// <param name="Id">Tenant id.</param>
/// <param name="Status"><c>active</c> or <c>suspended</c>.</param>
/// <param name="Tier">Tier name.</param>
public sealed record TenantInfo(string Id, string Status, string Tier)
{
    /// <summary>True when the tenant may use the data plane.</summary>
    public bool IsActive => Status == "active";
}

/// <summary>
/// In-process cache of tenant state for the data plane (TTL <see cref="KeyOptions.CacheTtl"/>), dropped on
/// <c>tenant:{id}</c> messages of the revocation channel and after every resync.
/// </summary>
public sealed class TenantDirectory(GatewayDatabase database, IOptions<KeyOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (TenantInfo Info, long LoadedAt)> _cache = new(StringComparer.Ordinal);
    private readonly Lazy<long> _ttlTicks = new(() => (long)(options.Value.CacheTtl.TotalSeconds * time.TimestampFrequency));
    private long _generation;

    /// <summary>The tenant's state, or null when it does not exist.</summary>
    public async ValueTask<TenantInfo?> GetAsync(string tenantId, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_cache.TryGetValue(tenantId, out var entry) && now - entry.LoadedAt < _ttlTicks.Value)
        {
            return entry.Info;
        }

        var generation = Volatile.Read(ref _generation);
        await using var connection = await database.OpenAsync(cancellationToken);
        var info = await connection.QuerySingleOrDefaultAsync<TenantInfo>(new CommandDefinition(
            "SELECT id, status, tier FROM tenants WHERE id = @tenantId", new { tenantId }, cancellationToken: cancellationToken));
        if (info is not null && Volatile.Read(ref _generation) == generation)
        {
            _cache[tenantId] = (info, now);
        }

        return info;
    }

    /// <summary>Drops one tenant.</summary>
    public void Invalidate(string tenantId)
    {
        Interlocked.Increment(ref _generation);
        _cache.TryRemove(tenantId, out _);
    }

    /// <summary>Drops every tenant.</summary>
    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
    }
}

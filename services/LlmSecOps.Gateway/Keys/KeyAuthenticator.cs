using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Database;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>Why a presented credential was not accepted (every kind is a 401 on the data plane).</summary>
public enum KeyAuthFailure
{
    /// <summary>Accepted.</summary>
    None,

    /// <summary>No credential at all.</summary>
    Missing,

    /// <summary>Not in the key format, or the checksum fails: no look-up is done.</summary>
    Malformed,

    /// <summary>Well-formed, but no such key, or the secret does not match.</summary>
    Unknown,

    /// <summary>The key expired (or its rotation grace period ended).</summary>
    Expired,

    /// <summary>The key was revoked.</summary>
    Revoked,
}

/// <summary>The outcome of <see cref="KeyAuthenticator.AuthenticateAsync"/>.</summary>
/// <param name="Failure">Why it failed, or <see cref="KeyAuthFailure.None"/>.</param>
/// <param name="Key">The key's record when accepted.</param>
/// <param name="ClaimedKeyId">The id part of a well-formed key that failed (for events); null otherwise.</param>
public readonly record struct KeyAuthResult(KeyAuthFailure Failure, KeyRecord? Key, string? ClaimedKeyId)
{
    /// <summary>True when the key may be used.</summary>
    public bool Succeeded => Failure == KeyAuthFailure.None;
}

/// <summary>
/// The key store's read side, called by the data plane on every request: parse and checksum first (no look-up for
/// garbage), then an in-process cache (TTL <see cref="KeyOptions.CacheTtl"/>), then the Redis status cache, then
/// Postgres. Revocations arrive on <c>llmsecops:revocations</c> and drop the key from the in-process cache at once
/// (<see cref="Invalidate"/>); after a Redis reconnect <see cref="ResyncAsync"/> re-reads what changed in Postgres.
/// </summary>
public sealed partial class KeyAuthenticator
{
    private readonly ConcurrentDictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private readonly GatewayDatabase _database;
    private readonly IKeyStatusBus _bus;
    private readonly KeyHasher _hasher;
    private readonly IOptions<KeyOptions> _optionsAccessor;
    private readonly TimeProvider _time;
    private readonly ILogger<KeyAuthenticator> _logger;
    private long _ttlTicks = -1;
    private long _generation;
    private DateTime _lastSyncDbTime = DateTime.MinValue;

    public KeyAuthenticator(GatewayDatabase database, IKeyStatusBus bus, KeyHasher hasher, IOptions<KeyOptions> options,
        TimeProvider time, ILogger<KeyAuthenticator> logger)
    {
        _database = database;
        _bus = bus;
        _hasher = hasher;
        _optionsAccessor = options;
        _time = time;
        _logger = logger;
    }

    private KeyOptions Settings => _optionsAccessor.Value;

    private long TtlTicks => _ttlTicks >= 0 ? _ttlTicks : _ttlTicks = (long)(Settings.CacheTtl.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Number of keys in the in-process cache (diagnostics, tests).</summary>
    public int CachedCount => _cache.Count;

    /// <summary>Authenticates a presented key (the raw value of the bearer token or <c>x-api-key</c>).</summary>
    public async ValueTask<KeyAuthResult> AuthenticateAsync(string? presented, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return new KeyAuthResult(KeyAuthFailure.Missing, null, null);
        }

        // Shape and CRC before anything touches a cache or a database: typos and scanners' look-alikes stop here.
        if (!ApiKey.TryParse(presented, out var parts))
        {
            return new KeyAuthResult(KeyAuthFailure.Malformed, null, null);
        }

        var keyId = parts.IdString(presented);
        var record = await GetRecordAsync(keyId, cancellationToken);
        if (record is null || !_hasher.Verify(presented, record.PepperVersion, record.KeyHash)
            || !string.Equals(record.Env, parts.Environment == KeyEnvironment.Test ? "test" : "live", StringComparison.Ordinal))
        {
            return new KeyAuthResult(KeyAuthFailure.Unknown, null, keyId);
        }

        if (record.Status != "active")
        {
            return new KeyAuthResult(KeyAuthFailure.Revoked, null, keyId);
        }

        if (record.ExpiresAt is { } expires && expires <= _time.GetUtcNow().UtcDateTime)
        {
            return new KeyAuthResult(KeyAuthFailure.Expired, null, keyId);
        }

        return new KeyAuthResult(KeyAuthFailure.None, record, null);
    }

    /// <summary>Drops a key from this replica's cache now (a revocation message arrived, or this replica changed it).</summary>
    public void Invalidate(string keyId)
    {
        Interlocked.Increment(ref _generation);
        _cache.TryRemove(keyId, out _);
    }

    /// <summary>Drops every key of a tenant from this replica's cache.</summary>
    public void InvalidateTenant(string tenantId)
    {
        Interlocked.Increment(ref _generation);
        foreach (var (id, entry) in _cache)
        {
            if (entry.Record.TenantId == tenantId)
            {
                _cache.TryRemove(id, out _);
            }
        }
    }

    /// <summary>
    /// Re-reads from Postgres which keys and tenants changed since the last sync (with a margin for transactions that
    /// committed late) and drops them from this replica's cache, refreshing their Redis entries. Called after a Redis
    /// reconnect (revocation messages may have been missed) and periodically.
    /// </summary>
    public async Task<int> ResyncAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        var now = await connection.ExecuteScalarAsync<DateTime>(new CommandDefinition("SELECT now()", cancellationToken: cancellationToken));
        if (_lastSyncDbTime == DateTime.MinValue)
        {
            // First call (start-up): the cache is empty, there is nothing to drop; remember where we start from.
            _lastSyncDbTime = now;
            return 0;
        }

        var since = _lastSyncDbTime - TimeSpan.FromSeconds(30);
        var keys = (await connection.QueryAsync<KeyRecord.Row>(new CommandDefinition(
            $"SELECT {KeyRecord.SelectColumns} FROM keys WHERE updated_at >= @since", new { since = DateTime.SpecifyKind(since, DateTimeKind.Utc) },
            cancellationToken: cancellationToken))).ToList();
        var tenants = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT id FROM tenants WHERE updated_at >= @since", new { since = DateTime.SpecifyKind(since, DateTimeKind.Utc) },
            cancellationToken: cancellationToken))).ToList();

        foreach (var tenant in tenants)
        {
            InvalidateTenant(tenant);
        }

        foreach (var row in keys)
        {
            Invalidate(row.Id);
            try
            {
                // Unconditional write: Postgres (read after the change committed) is the truth.
                await _bus.SetAsync(row.Id, Serialize(row.ToRecord()), Settings.RedisStatusTtl, onlyIfAbsent: false, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRedisError(_logger, "resync", ex);
            }
        }

        _lastSyncDbTime = now;
        LogResynced(_logger, keys.Count, tenants.Count);
        return keys.Count;
    }

    /// <summary>Serialises a record for the Redis status cache.</summary>
    public static string Serialize(KeyRecord record) => JsonSerializer.Serialize(record, JsonSerializerOptions.Web);

    private async ValueTask<KeyRecord?> GetRecordAsync(string keyId, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(keyId, out var entry) && now - entry.LoadedAt < TtlTicks)
        {
            return entry.Record;
        }

        var generation = Volatile.Read(ref _generation);
        var record = await LoadSharedAsync(keyId, cancellationToken);
        // A revocation message that arrived while we were loading wins: do not cache what we read before it.
        if (record is not null && Volatile.Read(ref _generation) == generation)
        {
            if (_cache.Count >= Settings.CacheCapacity)
            {
                _cache.Clear();
            }

            _cache[keyId] = new CacheEntry(record, now);
        }

        return record;
    }

    private async Task<KeyRecord?> LoadSharedAsync(string keyId, CancellationToken cancellationToken)
    {
        try
        {
            var json = await _bus.GetAsync(keyId, cancellationToken);
            if (json is not null)
            {
                return JsonSerializer.Deserialize<KeyRecord>(json, JsonSerializerOptions.Web);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRedisError(_logger, "get", ex);
        }

        KeyRecord? record;
        await using (var connection = await _database.OpenAsync(cancellationToken))
        {
            record = await KeyRecord.LoadAsync(connection, keyId, cancellationToken);
        }

        if (record is not null)
        {
            try
            {
                await _bus.SetAsync(keyId, Serialize(record), Settings.RedisStatusTtl, onlyIfAbsent: true, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRedisError(_logger, "fill", ex);
            }
        }

        return record;
    }

    private readonly record struct CacheEntry(KeyRecord Record, long LoadedAt);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Key status cache (Redis) {Operation} failed; falling back to Postgres")]
    private static partial void LogRedisError(ILogger logger, string operation, Exception exception);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "Key state resynced from Postgres: {Keys} key(s) and {Tenants} tenant(s) changed")]
    private static partial void LogResynced(ILogger logger, int keys, int tenants);
}

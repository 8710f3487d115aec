using LlmSecOps.Redis;

namespace LlmSecOps.Limits;

/// <summary>
/// The Lua scripts behind every limit. Each runs atomically in Redis, so replicas sharing one Redis never
/// read-then-write past a limit. Time comes from the Redis server (<c>TIME</c>), not from replicas' clocks.
/// Scripts that call TIME are safe because Redis 7 replicates script effects, not scripts.
/// </summary>
internal static class LimitScripts
{
    /// <summary>
    /// Lua defining <c>charge_buckets(nb, base, now)</c>: token buckets, all-or-nothing. KEYS[1..nb]: one hash per bucket;
    /// ARGV[base + 1..]: (capacity, refill per second, cost) per bucket. Every bucket is refilled to <c>now</c>; only when
    /// all can pay is each charged. Returns allowed (0/1), the tightest bucket's remaining tokens, retry-after ms, the
    /// 1-based index of the refusing bucket or 0, and each bucket's level (after charging when allowed), floored.
    /// Shared by <see cref="TokenBuckets"/> and the admission script.
    /// </summary>
    public const string ChargeBucketsLua = """
        local function charge_buckets(nb, base, now)
          local tokens = {}
          local allowed = 1
          local retry = 0
          local refusing = 0
          local remaining = -1
          for i = 1, nb do
            local capacity = tonumber(ARGV[base + (i - 1) * 3 + 1])
            local rate = tonumber(ARGV[base + (i - 1) * 3 + 2])
            local cost = tonumber(ARGV[base + (i - 1) * 3 + 3])
            local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
            local level = tonumber(state[1])
            local ts = tonumber(state[2])
            if level == nil or ts == nil then
              level = capacity
              ts = now
            end
            level = math.min(capacity, level + math.max(0, now - ts) * rate / 1000)
            tokens[i] = level
            if level < cost then
              allowed = 0
              local wait = math.ceil((cost - level) * 1000 / rate)
              if wait > retry then
                retry = wait
                refusing = i
              end
            end
          end
          local levels = {}
          for i = 1, nb do
            local capacity = tonumber(ARGV[base + (i - 1) * 3 + 1])
            local rate = tonumber(ARGV[base + (i - 1) * 3 + 2])
            local cost = tonumber(ARGV[base + (i - 1) * 3 + 3])
            local level = tokens[i]
            if allowed == 1 then
              level = level - cost
            end
            redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', now)
            redis.call('PEXPIRE', KEYS[i], math.ceil(capacity * 1000 / rate) + 1000)
            if remaining < 0 or level < remaining then
              remaining = level
            end
            levels[i] = math.floor(level)
          end
          return allowed, remaining, retry, refusing, levels
        end
        """;

    /// <summary>
    /// Token buckets, all-or-nothing (<see cref="ChargeBucketsLua"/>). KEYS: one hash per bucket. ARGV: (capacity, refill
    /// per second, cost) per bucket. Returns {allowed 0/1, remaining tokens of the tightest bucket, retry-after ms, index
    /// (1-based) of the refusing bucket or 0, then each bucket's level (after charging when allowed), floored}.
    /// </summary>
    public static readonly RedisScript TokenBuckets = new($$"""
        {{ChargeBucketsLua}}
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local n = #KEYS
        local allowed, remaining, retry, refusing, levels = charge_buckets(n, 0, now)
        local reply = {allowed, math.floor(remaining), retry, refusing}
        for i = 1, n do
          reply[4 + i] = levels[i]
        end
        return reply
        """);

    /// <summary>
    /// Acquires a concurrency lease. KEYS[1]: sorted set of lease id -> expiry (ms). ARGV: cap, lease id, ttl ms.
    /// Expired leases (a replica killed mid-request) are dropped first, so capacity never leaks.
    /// Returns {acquired 0/1, leases held, retry-after ms}.
    /// </summary>
    public static readonly RedisScript AcquireLease = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local cap = tonumber(ARGV[1])
        local ttl = tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local held = redis.call('ZCARD', KEYS[1])
        if held >= cap then
          local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
          local wait = 1000
          if first[2] then
            wait = math.max(1, tonumber(first[2]) - now)
          end
          return {0, held, wait}
        end
        redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ttl * 2)
        return {1, held + 1, 0}
        """);

    /// <summary>Extends a held lease. KEYS[1]: the set. ARGV: lease id, ttl ms. Returns 1 if it was still held.</summary>
    public static readonly RedisScript RenewLease = new("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
          redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
          redis.call('PEXPIRE', KEYS[1], ttl * 2)
          return 1
        end
        return 0
        """);

    /// <summary>
    /// Reserves budget on every counter at once. KEYS: counter hashes {used, epoch}. ARGV[1]: requested, ARGV[2]:
    /// minimum useful grant, then (limit, ttl seconds) per counter; limit 0 means unlimited (still counted).
    /// A missing counter is not guessed at: returns {-1, index} so the caller seeds it from settled usage in
    /// Postgres (after a Redis restart) and retries. Otherwise {1, grant, limiting index, epochs...} when at least
    /// the minimum fits (the grant is clamped to what remains), or {0, remaining, limiting index}.
    /// </summary>
    public static readonly RedisScript Reserve = new("""
        local requested = tonumber(ARGV[1])
        local minimum = tonumber(ARGV[2])
        local grant = requested
        local limiting = 0
        local epochs = {}
        for i = 1, #KEYS do
          local state = redis.call('HMGET', KEYS[i], 'used', 'epoch')
          if state[1] == false or state[2] == false then
            return {-1, i}
          end
          epochs[i] = state[2]
          local limit = tonumber(ARGV[(i - 1) * 2 + 3])
          if limit > 0 then
            local remaining = limit - tonumber(state[1])
            if remaining < grant then
              grant = remaining
              limiting = i
            end
          end
        end
        if grant < minimum or grant <= 0 then
          return {0, math.max(grant, 0), limiting}
        end
        local reply = {1, grant, limiting}
        for i = 1, #KEYS do
          redis.call('HINCRBY', KEYS[i], 'used', grant)
          reply[3 + i] = epochs[i]
        end
        return reply
        """);

    /// <summary>
    /// Seeds a missing counter from settled usage. KEYS[1]: counter. ARGV: used, epoch, ttl seconds.
    /// HSETNX: when replicas race to seed, the first wins and the others keep its value.
    /// </summary>
    public static readonly RedisScript Seed = new("""
        if redis.call('HSETNX', KEYS[1], 'used', ARGV[1]) == 1 then
          redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
          redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
          return 1
        end
        return 0
        """);

    /// <summary>
    /// Settles a reservation. KEYS: counters. ARGV[1]: granted, ARGV[2]: actual, then the epoch each counter had at
    /// reservation. Same epoch: add (actual - granted). Different epoch (the counter was lost and re-seeded from
    /// settled usage, which did not include this reservation): add actual. Missing: nothing (the next seed will
    /// read this request's settled usage from Postgres).
    /// </summary>
    public static readonly RedisScript Settle = new("""
        local granted = tonumber(ARGV[1])
        local actual = tonumber(ARGV[2])
        for i = 1, #KEYS do
          local epoch = redis.call('HGET', KEYS[i], 'epoch')
          if epoch then
            if epoch == ARGV[2 + i] then
              redis.call('HINCRBY', KEYS[i], 'used', actual - granted)
            else
              redis.call('HINCRBY', KEYS[i], 'used', actual)
            end
          end
        end
        return 1
        """);
}

using System.Globalization;
using System.Security.Cryptography;
using LlmSecOps.Redis;

namespace LlmSecOps.Limits;

/// <summary>One budget counter: a key (see <see cref="BudgetPeriods"/>), its limit (0 = unlimited, still counted) and lifetime.</summary>
public sealed record BudgetCounter(string Key, long Limit, TimeSpan Ttl);

/// <summary>A reservation: what was granted on which counters, and the counters' epochs at that moment.</summary>
public sealed record BudgetReservation(IReadOnlyList<BudgetCounter> Counters, long Granted, string[] Epochs);

/// <summary>The outcome of a reservation attempt.</summary>
/// <param name="Reservation">The reservation, or null when refused.</param>
/// <param name="Remaining">When refused: what was left on the tightest counter.</param>
/// <param name="LimitingIndex">The counter that limited the grant (clamped or refused), or -1.</param>
public readonly record struct ReserveResult(BudgetReservation? Reservation, long Remaining, int LimitingIndex)
{
    /// <summary>True when budget was reserved.</summary>
    public bool Granted => Reservation is not null;
}

/// <summary>
/// Hard token budgets: reserve a safe upper bound before the upstream is called (clamped to what remains on every
/// counter, atomically), settle to actual usage afterwards. Counters live in Redis; a counter Redis lost (restart)
/// is re-seeded from settled usage in Postgres before anything is reserved on it, and reservations made before
/// the loss settle correctly against the new counter (epochs).
/// </summary>
public sealed class BudgetLedger(RedisConnection redis)
{
    private const int MaxSeedRounds = 8;

    /// <summary>
    /// Reserves up to <paramref name="requested"/> tokens on every counter at once, at least <paramref name="minimum"/>.
    /// <paramref name="settledUsage"/> returns a counter's settled usage from the durable store when Redis has none.
    /// </summary>
    public async Task<ReserveResult> ReserveAsync(
        IReadOnlyList<BudgetCounter> counters,
        long requested,
        long minimum,
        Func<BudgetCounter, CancellationToken, Task<long>> settledUsage,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfZero(counters.Count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requested);
        var keys = new string[counters.Count];
        var args = new RedisArg[2 + (counters.Count * 2)];
        args[0] = requested;
        args[1] = Math.Max(1, minimum);
        for (var i = 0; i < counters.Count; i++)
        {
            keys[i] = counters[i].Key;
            args[2 + (i * 2)] = Math.Max(0, counters[i].Limit);
            args[3 + (i * 2)] = (long)counters[i].Ttl.TotalSeconds;
        }

        for (var round = 0; round < MaxSeedRounds; round++)
        {
            var reply = await LimitScripts.Reserve.EvaluateAsync(redis, keys, args);
            switch (reply[0].AsInt64())
            {
                case 1:
                    var epochs = new string[counters.Count];
                    for (var i = 0; i < epochs.Length; i++)
                    {
                        epochs[i] = reply[3 + i].AsString()!;
                    }

                    return new ReserveResult(new BudgetReservation(counters, reply[1].AsInt64(), epochs), 0, (int)reply[2].AsInt64() - 1);
                case 0:
                    return new ReserveResult(null, reply[1].AsInt64(), (int)reply[2].AsInt64() - 1);
                default:
                    var missing = counters[(int)reply[1].AsInt64() - 1];
                    var used = await settledUsage(missing, cancellationToken);
                    await SeedAsync(redis, missing, used);
                    break;
            }
        }

        throw new InvalidOperationException("Budget counters kept disappearing while being seeded; is Redis evicting keys (maxmemory-policy must be noeviction)?");
    }

    /// <summary>Settles a reservation to the tokens actually used (may be more or less than granted).</summary>
    public async Task SettleAsync(BudgetReservation reservation, long actual)
    {
        var keys = new string[reservation.Counters.Count];
        var args = new RedisArg[2 + keys.Length];
        args[0] = reservation.Granted;
        args[1] = actual;
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = reservation.Counters[i].Key;
            args[2 + i] = reservation.Epochs[i];
        }

        await LimitScripts.Settle.EvaluateAsync(redis, keys, args);
    }

    /// <summary>Reads a counter's current usage (reserved + settled), or null when Redis has none.</summary>
    public async Task<long?> UsedAsync(string key) =>
        await redis.HashGetAsync(key, "used") is { } text ? long.Parse(text, CultureInfo.InvariantCulture) : null;

    /// <summary>Seeds a missing counter with settled usage and a new epoch (the first of racing replicas wins).</summary>
    internal static Task<RedisValue> SeedAsync(RedisConnection redis, BudgetCounter counter, long used) =>
        LimitScripts.Seed.EvaluateAsync(redis, [counter.Key], [used, NewEpoch(), (long)counter.Ttl.TotalSeconds]);

    private static string NewEpoch() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}

/// <summary>UTC calendar periods for budgets (ARCHITECTURE.md: budget days and months are UTC calendar periods).</summary>
public static class BudgetPeriods
{
    /// <summary>Counter key for the UTC day containing <paramref name="now"/>: <c>{prefix}budget:{scope}:{id}:d:yyyyMMdd</c>.</summary>
    public static string DayKey(string prefix, string scope, string id, DateTimeOffset now) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}budget:{scope}:{id}:d:{now.UtcDateTime:yyyyMMdd}");

    /// <summary>Counter key for the UTC month containing <paramref name="now"/>: <c>{prefix}budget:{scope}:{id}:m:yyyyMM</c>.</summary>
    public static string MonthKey(string prefix, string scope, string id, DateTimeOffset now) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}budget:{scope}:{id}:m:{now.UtcDateTime:yyyyMM}");

    /// <summary>Start (inclusive) and end (exclusive) of the UTC day containing <paramref name="now"/>.</summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Day(DateTimeOffset now)
    {
        var start = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        return (start, start.AddDays(1));
    }

    /// <summary>Start (inclusive) and end (exclusive) of the UTC month containing <paramref name="now"/>.</summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Month(DateTimeOffset now)
    {
        var start = new DateTimeOffset(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (start, start.AddMonths(1));
    }

    /// <summary>How long a day counter is kept: past its day, with slack for late settlements.</summary>
    public static readonly TimeSpan DayTtl = TimeSpan.FromDays(2);

    /// <summary>How long a month counter is kept.</summary>
    public static readonly TimeSpan MonthTtl = TimeSpan.FromDays(33);
}

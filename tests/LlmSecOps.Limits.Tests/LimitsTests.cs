using LlmSecOps.Redis;
using LlmSecOps.Testing;

namespace LlmSecOps.Limits.Tests;

public sealed class LimitsTests : IAsyncLifetime
{
    private RedisConnection _redis = null!;
    private readonly string _prefix = TestServers.NewKeyPrefix();

    // A generous command timeout: these tests put 1,000 scripts in flight at once on a 2-core machine that may be
    // busy with other test assemblies; correctness, not latency, is under test here.
    public async Task InitializeAsync() => _redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync() + ",commandTimeout=60000");

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task ABucketAllowsItsCapacityThenRefusesWithARetryAfter()
    {
        var limiter = new RateLimiter(_redis);
        BucketSpec[] bucket = [new(_prefix + "rpm", Capacity: 5, RefillPerSecond: 1, Cost: 1)];

        for (var i = 0; i < 5; i++)
        {
            Assert.True((await limiter.TryAcquireAsync(bucket)).Allowed);
        }

        var refused = await limiter.TryAcquireAsync(bucket);
        Assert.False(refused.Allowed);
        Assert.Equal(0, refused.RefusingIndex);
        Assert.InRange(refused.RetryAfter, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1100));
    }

    [Fact]
    public async Task ARequestRefusedByTheTenantBucketDoesNotDrainTheKeyBucket()
    {
        var limiter = new RateLimiter(_redis);
        BucketSpec[] buckets =
        [
            new(_prefix + "key", Capacity: 10, RefillPerSecond: 0.001, Cost: 1),
            new(_prefix + "tenant", Capacity: 2, RefillPerSecond: 0.001, Cost: 1),
        ];

        Assert.True((await limiter.TryAcquireAsync(buckets)).Allowed);
        Assert.True((await limiter.TryAcquireAsync(buckets)).Allowed);
        var refused = await limiter.TryAcquireAsync(buckets);

        Assert.False(refused.Allowed);
        Assert.Equal(1, refused.RefusingIndex);
        var keyTokens = double.Parse((await _redis.HashGetAsync(_prefix + "key", "tokens"))!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(keyTokens, 7.9, 8.1);
    }

    [Fact]
    public async Task ConcurrentCallersNeverGetMoreThanTheCapacity()
    {
        var limiter = new RateLimiter(_redis);
        BucketSpec[] bucket = [new(_prefix + "burst", Capacity: 50, RefillPerSecond: 0.0001, Cost: 1)];

        var results = await Task.WhenAll(Enumerable.Range(0, 400).Select(_ => limiter.TryAcquireAsync(bucket)));

        Assert.Equal(50, results.Count(r => r.Allowed));
    }

    [Fact]
    public async Task LeasesAreCappedAndReleased()
    {
        var leases = new ConcurrencyLeases(_redis);
        var key = _prefix + "inflight";
        var held = new List<Lease>();
        for (var i = 0; i < 3; i++)
        {
            var r = await leases.TryAcquireAsync(key, cap: 3, TimeSpan.FromSeconds(30));
            Assert.True(r.Acquired);
            held.Add(r.Lease!);
        }

        var refused = await leases.TryAcquireAsync(key, cap: 3, TimeSpan.FromSeconds(30));
        Assert.False(refused.Acquired);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);

        await leases.ReleaseAsync(held[0]);
        Assert.True((await leases.TryAcquireAsync(key, cap: 3, TimeSpan.FromSeconds(30))).Acquired);
    }

    [Fact]
    public async Task LeasesOfAGatewayKilledMidRequestExpireSoCapacityDoesNotLeak()
    {
        var leases = new ConcurrencyLeases(_redis);
        var key = _prefix + "killed";
        // A "killed" gateway: takes every lease and never releases or renews them. The TTL is long enough that the
        // refusal below cannot race the expiry on a slow machine, short enough for the test to be quick.
        var ttl = TimeSpan.FromSeconds(3);
        Assert.True((await leases.TryAcquireAsync(key, cap: 2, ttl)).Acquired);
        Assert.True((await leases.TryAcquireAsync(key, cap: 2, ttl)).Acquired);
        Assert.False((await leases.TryAcquireAsync(key, cap: 2, TimeSpan.FromSeconds(30))).Acquired);

        // Capacity comes back once the dead leases expire: poll rather than sleep a guessed time.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var acquired = false;
        while (!acquired && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            acquired = (await leases.TryAcquireAsync(key, cap: 2, TimeSpan.FromSeconds(30))).Acquired;
        }

        Assert.True(acquired, "the leases of a killed gateway never expired");
    }

    [Fact]
    public async Task RenewedLeasesOutliveTheirFirstTtl()
    {
        var leases = new ConcurrencyLeases(_redis);
        var key = _prefix + "renew";
        // Renewed every 0.5 s for 3 s: well past the 2 s TTL, with room for a slow, loaded machine between renewals.
        var ttl = TimeSpan.FromSeconds(2);
        var lease = (await leases.TryAcquireAsync(key, cap: 1, ttl)).Lease!;
        var started = DateTime.UtcNow;
        while (DateTime.UtcNow - started < ttl + TimeSpan.FromSeconds(1))
        {
            await Task.Delay(500);
            Assert.True(await leases.RenewAsync(lease));
        }

        Assert.False((await leases.TryAcquireAsync(key, cap: 1, TimeSpan.FromSeconds(1))).Acquired);
    }

    [Fact]
    public async Task AThousandConcurrentRequestsNeverSettleMoreThanTheBudget()
    {
        var ledger = new BudgetLedger(_redis);
        const long budget = 10_000;
        BudgetCounter[] counters =
        [
            new(_prefix + "budget:key:d", budget, TimeSpan.FromHours(1)),
            new(_prefix + "budget:tenant:d", 0, TimeSpan.FromHours(1)),
        ];
        var random = new Random(42);
        var actuals = Enumerable.Range(0, 1000).Select(_ => random.Next(20, 140)).ToArray();
        long settled = 0;
        var refused = 0;

        await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            var result = await ledger.ReserveAsync(counters, requested: 150, minimum: 10, (_, _) => Task.FromResult(0L));
            if (!result.Granted)
            {
                Interlocked.Increment(ref refused);
                return;
            }

            // A compliant upstream never produces more than it was allowed (max_tokens is clamped to the grant).
            var actual = Math.Min(actuals[i], result.Reservation!.Granted);
            await Task.Yield();
            await ledger.SettleAsync(result.Reservation, actual);
            Interlocked.Add(ref settled, actual);
        }));

        Assert.True(settled <= budget, $"settled {settled} > budget {budget}");
        Assert.True(refused > 0, "the budget should have run out");
        Assert.Equal(settled, await ledger.UsedAsync(counters[0].Key));
        Assert.Equal(settled, await ledger.UsedAsync(counters[1].Key));
    }

    [Fact]
    public async Task AGrantIsClampedToWhatRemainsThenRefused()
    {
        var ledger = new BudgetLedger(_redis);
        BudgetCounter[] counters = [new(_prefix + "clamp", 100, TimeSpan.FromHours(1))];

        var first = await ledger.ReserveAsync(counters, 150, 1, (_, _) => Task.FromResult(0L));
        var second = await ledger.ReserveAsync(counters, 150, 1, (_, _) => Task.FromResult(0L));

        Assert.Equal(100, first.Reservation!.Granted);
        Assert.Equal(0, first.LimitingIndex);
        Assert.False(second.Granted);
        Assert.Equal(0, second.Remaining);
    }

    [Fact]
    public async Task ALostCounterIsSeededFromSettledUsageBeforeAnythingIsReserved()
    {
        var ledger = new BudgetLedger(_redis);
        BudgetCounter[] counters = [new(_prefix + "seed", 1000, TimeSpan.FromHours(1))];
        var seeds = 0;

        var result = await ledger.ReserveAsync(counters, 100, 1, (_, _) =>
        {
            Interlocked.Increment(ref seeds);
            return Task.FromResult(990L);
        });

        Assert.Equal(1, seeds);
        Assert.Equal(10, result.Reservation!.Granted);
    }

    [Fact]
    public async Task AReservationMadeBeforeRedisLostTheCounterSettlesItsActualUsageOnTheNewCounter()
    {
        var ledger = new BudgetLedger(_redis);
        BudgetCounter[] counters = [new(_prefix + "epoch", 10_000, TimeSpan.FromHours(1))];
        var before = (await ledger.ReserveAsync(counters, 100, 1, (_, _) => Task.FromResult(0L))).Reservation!;

        await _redis.DelAsync(counters[0].Key); // Redis restarted without persistence
        var after = (await ledger.ReserveAsync(counters, 50, 1, (_, _) => Task.FromResult(500L))).Reservation!;
        await ledger.SettleAsync(before, 40);
        await ledger.SettleAsync(after, 50);

        // 500 settled before the loss (from Postgres) + 40 actual of the old reservation + 50 of the new one.
        Assert.Equal(590, await ledger.UsedAsync(counters[0].Key));
    }

    [Fact]
    public void BudgetPeriodsAreUtcCalendarDaysAndMonths()
    {
        var now = new DateTimeOffset(2026, 1, 31, 23, 30, 0, TimeSpan.FromHours(-5)); // 2026-02-01 04:30 UTC
        Assert.Equal("p:budget:key:k1:d:20260201", BudgetPeriods.DayKey("p:", "key", "k1", now));
        Assert.Equal("p:budget:key:k1:m:202602", BudgetPeriods.MonthKey("p:", "key", "k1", now));
        Assert.Equal(new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero), BudgetPeriods.Month(now).Start);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero), BudgetPeriods.Month(now).End);
    }
}

using System.Globalization;
using LlmSecOps.Redis;
using LlmSecOps.Testing;

namespace LlmSecOps.Limits.Tests;

public sealed class AdmissionTests : IAsyncLifetime
{
    private static readonly TimeSpan s_ttl = TimeSpan.FromMinutes(10);
    private RedisConnection _redis = null!;
    private readonly string _prefix = TestServers.NewKeyPrefix();

    public async Task InitializeAsync() => _redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync() + ",commandTimeout=60000");

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    private static Task<long> NoSettledUsage(BudgetCounter counter, CancellationToken cancellationToken) => Task.FromResult(0L);

    private AdmissionRequest Request(double rpm = 100, int cap = 10, long budget = 10_000, long requested = 100, long minimum = 1, bool withBudget = true) => new(
        [new BucketSpec(_prefix + "rate:key", rpm, rpm / 60, 1), new BucketSpec(_prefix + "rate:tenant", 1000, 1000 / 60.0, 1)],
        _prefix + "inflight",
        cap,
        s_ttl,
        withBudget ? [new BudgetCounter(_prefix + "budget:key:d", budget, TimeSpan.FromHours(1)), new BudgetCounter(_prefix + "budget:tenant:d", 0, TimeSpan.FromHours(1))] : [],
        requested,
        minimum);

    private async Task<double> BucketLevelAsync(string key) =>
        double.Parse((await _redis.HashGetAsync(_prefix + key, "tokens"))!, CultureInfo.InvariantCulture);

    private async Task<long> LeasesHeldAsync() => (await _redis.ExecuteAsync("ZCARD", _prefix + "inflight")).AsInt64();

    [Fact]
    public async Task OneAdmissionChargesTheBucketsTakesALeaseAndReservesTheBudgetInOneRoundTrip()
    {
        var admission = new Admission(_redis);
        var ledger = new BudgetLedger(_redis);

        var result = await admission.AdmitAsync(Request(), NoSettledUsage);

        Assert.True(result.Admitted);
        Assert.Equal(AdmissionRefusal.None, result.Refusal);
        Assert.True(result.Rate.Allowed);
        Assert.Equal([99L, 999L], result.Rate.Levels);
        Assert.Equal(1, result.Lease.Held);
        Assert.Equal(1, await LeasesHeldAsync());
        Assert.Equal(100, result.Budget!.Value.Reservation!.Granted);
        Assert.Equal(100, await ledger.UsedAsync(_prefix + "budget:key:d"));
        Assert.Equal(100, await ledger.UsedAsync(_prefix + "budget:tenant:d"));

        // Settled and released as the gateway does after the response: both sent before either is awaited.
        await Task.WhenAll(ledger.SettleAsync(result.Budget.Value.Reservation, 30), new ConcurrencyLeases(_redis).ReleaseAsync(result.Lease.Lease!));
        Assert.Equal(30, await ledger.UsedAsync(_prefix + "budget:key:d"));
        Assert.Equal(0, await LeasesHeldAsync());
    }

    [Fact]
    public async Task ARateRefusalTakesNoLeaseAndReservesNothing()
    {
        var admission = new Admission(_redis);
        var request = Request(rpm: 1);
        Assert.True((await admission.AdmitAsync(request, NoSettledUsage)).Admitted);

        var refused = await admission.AdmitAsync(request, NoSettledUsage);

        Assert.Equal(AdmissionRefusal.Rate, refused.Refusal);
        Assert.False(refused.Rate.Allowed);
        Assert.Equal(0, refused.Rate.RefusingIndex);
        Assert.InRange(refused.Rate.RetryAfter, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(61));
        Assert.Null(refused.Lease.Lease);
        Assert.Equal(1, await LeasesHeldAsync());
        Assert.Equal(100, await new BudgetLedger(_redis).UsedAsync(_prefix + "budget:key:d"));
        // All-or-nothing: the tenant bucket was not charged for the refused request either.
        Assert.InRange(await BucketLevelAsync("rate:tenant"), 998.9, 1000);
    }

    [Fact]
    public async Task AConcurrencyRefusalKeepsTheRateChargeButReservesNothing()
    {
        var admission = new Admission(_redis);
        var request = Request(cap: 1);
        Assert.True((await admission.AdmitAsync(request, NoSettledUsage)).Admitted);

        var refused = await admission.AdmitAsync(request, NoSettledUsage);

        Assert.Equal(AdmissionRefusal.Concurrency, refused.Refusal);
        Assert.True(refused.Rate.Allowed);
        Assert.Equal(1, refused.Lease.Held);
        Assert.InRange(refused.Lease.RetryAfter, TimeSpan.FromSeconds(1), s_ttl);
        Assert.Equal(1, await LeasesHeldAsync());
        Assert.Equal(100, await new BudgetLedger(_redis).UsedAsync(_prefix + "budget:key:d"));
        Assert.InRange(await BucketLevelAsync("rate:key"), 97.9, 99.0); // charged twice, never three times
    }

    [Fact]
    public async Task ABudgetRefusalReportsWhatRemainsAndTakesNoLease()
    {
        var admission = new Admission(_redis);
        Assert.Equal(60, (await admission.AdmitAsync(Request(budget: 60, requested: 100), NoSettledUsage)).Budget!.Value.Reservation!.Granted);

        var refused = await admission.AdmitAsync(Request(budget: 60, requested: 100, minimum: 5), NoSettledUsage);

        Assert.Equal(AdmissionRefusal.Budget, refused.Refusal);
        Assert.Null(refused.Budget!.Value.Reservation);
        Assert.Equal(0, refused.Budget.Value.Remaining);
        Assert.Equal(0, refused.Budget.Value.LimitingIndex);
        Assert.Equal(1, await LeasesHeldAsync());
    }

    [Fact]
    public async Task WithoutBudgetCountersOnlyTheRateAndTheLeaseAreChecked()
    {
        var result = await new Admission(_redis).AdmitAsync(Request(withBudget: false), NoSettledUsage);

        Assert.True(result.Admitted);
        Assert.Null(result.Budget);
        Assert.Equal(1, await LeasesHeldAsync());
    }

    [Fact]
    public async Task ALostBudgetCounterIsSeededFromSettledUsageBeforeTheBucketsAreCharged()
    {
        var seeds = 0;
        var result = await new Admission(_redis).AdmitAsync(Request(budget: 1000, requested: 100), (counter, _) =>
        {
            Interlocked.Increment(ref seeds);
            return Task.FromResult(counter.Key.EndsWith("key:d", StringComparison.Ordinal) ? 990L : 0L);
        });

        Assert.Equal(2, seeds); // both counters were missing; each seeded once
        Assert.Equal(10, result.Budget!.Value.Reservation!.Granted);
        // The retries after seeding did not charge the request-rate buckets more than once.
        Assert.InRange(await BucketLevelAsync("rate:key"), 98.9, 99.9);
    }

    [Fact]
    public async Task AThousandConcurrentAdmissionsNeverReserveMoreThanTheBudgetOrHoldMoreLeasesThanTheCap()
    {
        var admission = new Admission(_redis);
        var ledger = new BudgetLedger(_redis);
        var leases = new ConcurrencyLeases(_redis);
        const long budget = 3_000;
        var random = new Random(7);
        var actuals = Enumerable.Range(0, 1000).Select(_ => random.Next(20, 140)).ToArray();
        long settled = 0;
        var maxHeld = 0L;
        var refusals = new int[4];

        await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            var result = await admission.AdmitAsync(Request(rpm: 1_000_000, cap: 100, budget: budget, requested: 150, minimum: 10), NoSettledUsage);
            if (!result.Admitted)
            {
                Interlocked.Increment(ref refusals[(int)result.Refusal]);
                return;
            }

            InterlockedMax(ref maxHeld, result.Lease.Held);
            var actual = Math.Min(actuals[i], result.Budget!.Value.Reservation!.Granted);
            await Task.Yield();
            await Task.WhenAll(ledger.SettleAsync(result.Budget.Value.Reservation, actual), leases.ReleaseAsync(result.Lease.Lease!));
            Interlocked.Add(ref settled, actual);
        }));

        Assert.True(settled <= budget, $"settled {settled} > budget {budget}");
        Assert.True(refusals[(int)AdmissionRefusal.Budget] > 0, "the budget should have run out");
        Assert.InRange(maxHeld, 1, 100);
        Assert.Equal(settled, await ledger.UsedAsync(_prefix + "budget:key:d"));
        Assert.Equal(0, await LeasesHeldAsync());
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

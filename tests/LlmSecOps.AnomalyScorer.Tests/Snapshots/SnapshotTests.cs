using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Snapshots;
using LlmSecOps.AnomalyScorer.Tests.Scoring;
using LlmSecOps.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace LlmSecOps.AnomalyScorer.Tests.Snapshots;

public sealed class SnapshotTests
{
    private const ulong HomeNetwork = 0x8000_0000_00AB_CD01;
    private const ulong AttackerNetwork = 0x8000_0000_0012_3401;

    [Fact]
    public async Task ABaselineLearnedBeforeARestartStillCatchesTheBurstAndKeepsNormalCallsNormal()
    {
        var database = await TestServers.NewDatabaseAsync();
        var before = new ScorerTestKit();
        var t0 = before.History("key-snap", days: 10) + (10 * ScorerTestKit.HourMs);
        var learned = before.Scorer.GetKey("key-snap")!;

        await using (var service = NewService(before, database))
        {
            await service.StartAsync(CancellationToken.None);
            await service.StopAsync(CancellationToken.None); // the shutdown snapshot
            Assert.True(service.SavedKeys >= 1);
        }

        // a new process: empty scorer, restored from Postgres before any event
        var after = new ScorerTestKit();
        await using (var service = NewService(after, database))
        {
            await service.StartAsync(CancellationToken.None);
            Assert.Equal(1, service.RestoredKeys);
            await service.StopAsync(CancellationToken.None);
        }

        var restored = after.Scorer.GetKey("key-snap")!;
        Assert.Equal(learned.Events, restored.Events);
        Assert.Equal(learned.KnownCountries, restored.KnownCountries);

        // an ordinary call from home is still ordinary
        after.Send(ScorerTestKit.Call("key-snap", t0, "DE", HomeNetwork));
        Assert.All(after.Scorer.GetKey("key-snap")!.Signals, s => Assert.True(s.PValue > 1e-3, $"{s.Family}: {s.PValue} {s.Reason}"));

        // and the burst from a new country is still caught on the strength of the restored history
        for (var i = 1; i < 300; i++)
        {
            after.Send(ScorerTestKit.Call("key-snap", t0 + (i * 600), "VN", AttackerNetwork, maxTokens: 100_000, length: true));
        }

        var revoke = Assert.Single(after.DecisionsFor("key-snap", DecisionAction.Revoke));
        Assert.True(revoke.At.ToUnixTimeMilliseconds() - t0 < 120_000);

        // without the snapshot the same key would be new: during the warm-up that is a flag, not a revocation
        var cold = new ScorerTestKit();
        cold.Send(ScorerTestKit.Call("key-snap", t0, "DE", HomeNetwork));
        for (var i = 1; i < 300; i++)
        {
            cold.Send(ScorerTestKit.Call("key-snap", t0 + (i * 600), "VN", AttackerNetwork, maxTokens: 100_000, length: true));
        }

        Assert.Empty(cold.DecisionsFor("key-snap", DecisionAction.Revoke));
    }

    [Fact]
    public void ASnapshotRestoresEveryDetectorsStateByteForByte()
    {
        var kit = new ScorerTestKit();
        var t0 = kit.History("key-a", days: 9);
        kit.History("key-b", days: 2, country: "JP", network: 0x8000_0000_0011_2201);
        for (var i = 0; i < 50; i++)
        {
            kit.Send(ScorerTestKit.Call("key-a", t0 + (i * 30_000), i % 2 == 0 ? "US" : "DE", AttackerNetwork + (ulong)i, maxTokens: 100_000, length: true));
        }

        var first = kit.Scorer.CaptureChangedKeys(100).OrderBy(k => k.KeyId, StringComparer.Ordinal).ToList();
        var population = kit.Scorer.CapturePopulation();
        Assert.Equal(2, first.Count);
        Assert.Empty(kit.Scorer.CaptureChangedKeys(100)); // captured keys are clean until they change

        var copy = new ScorerTestKit();
        copy.Scorer.RestorePopulation(population);
        foreach (var k in first)
        {
            copy.Scorer.RestoreKey(k.KeyId, k.TenantId, k.State);
        }

        // nothing changed in the copy, so capture it by touching nothing: serialise through a fresh event on both
        var next = ScorerTestKit.Call("key-a", t0 + (60 * 30_000), "DE", HomeNetwork);
        kit.Send(next);
        copy.Send(next);
        var again = kit.Scorer.CaptureChangedKeys(100).Single();
        var copied = copy.Scorer.CaptureChangedKeys(100).Single();
        Assert.Equal(again.State, copied.State);
        Assert.Equal(kit.Scorer.CapturePopulation(), copy.Scorer.CapturePopulation());
        Assert.Equal(kit.Scorer.GetKey("key-a")!.CombinedPValue, copy.Scorer.GetKey("key-a")!.CombinedPValue);
    }

    [Fact]
    public async Task AnUnreadableSnapshotRowIsSkippedAndTheOthersAreRestored()
    {
        var database = await TestServers.NewDatabaseAsync();
        var kit = new ScorerTestKit();
        kit.History("key-good", days: 3);
        await using (var service = NewService(kit, database))
        {
            await service.StartAsync(CancellationToken.None);
            await service.StopAsync(CancellationToken.None);
        }

        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand(
                "INSERT INTO scorer.key_state (key_id, tenant_id, last_event_at, state) VALUES ('key-bad', 't', now(), '\\x01ffff'::bytea), ('key-old', 't', now(), '\\x09'::bytea)",
                connection);
            await insert.ExecuteNonQueryAsync();
        }

        var after = new ScorerTestKit();
        await using (var service = NewService(after, database))
        {
            await service.StartAsync(CancellationToken.None);
            Assert.Equal(1, service.RestoredKeys);
            await service.StopAsync(CancellationToken.None);
        }

        Assert.NotNull(after.Scorer.GetKey("key-good"));
        Assert.Null(after.Scorer.GetKey("key-bad"));
        Assert.Null(after.Scorer.GetKey("key-old"));
    }

    // the kit's clock: snapshots of keys idle past the retention (by that clock) are neither restored nor kept
    private static SnapshotService NewService(ScorerTestKit kit, string database) => new(
        kit.Scorer,
        Options.Create(new SnapshotOptions { IntervalSeconds = 3600 }),
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:llmsecops"] = database }).Build(),
        kit.Clock,
        NullLogger<SnapshotService>.Instance);
}

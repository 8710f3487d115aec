using System.Collections.Concurrent;
using LlmSecOps.Testing;
using LlmSecOps.Testing.Redis;

namespace LlmSecOps.Redis.Tests.Connection;

/// <summary>Many callers on one multiplexed connection: every reply must reach the command that asked for it.</summary>
public sealed class PipeliningTests
{
    [Fact(Timeout = TestTimeouts.Test)]
    public async Task TenThousandConcurrentCommandsFromManyTasksEachGetTheirOwnReply()
    {
        var p = TestServers.NewKeyPrefix();
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        const int Tasks = 50;
        const int PerTask = 200;
        const int Counters = 20;
        var mismatches = new ConcurrentBag<string>();
        var incrReplies = new ConcurrentDictionary<int, ConcurrentBag<long>>();

        // Each task fires its 200 commands without awaiting in between, so they are all in flight together.
        var workers = Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
        {
            var pending = new List<Task>(PerTask);
            for (var i = 0; i < PerTask; i++)
            {
                var n = (t * PerTask) + i;
                switch (n % 3)
                {
                    case 0:
                        var payload = $"echo-{t}-{i}-{Guid.NewGuid():N}";
                        pending.Add(Check(redis.ExecuteAsync("ECHO", payload), payload, mismatches));
                        break;
                    case 1:
                        var counter = n % Counters;
                        pending.Add(Record(redis.IncrByAsync(p + "ctr" + counter), incrReplies.GetOrAdd(counter, _ => [])));
                        break;
                    default:
                        var key = p + "k" + n;
                        var value = "v" + n;
                        pending.Add(SetThenGet(redis, key, value, mismatches));
                        break;
                }
            }

            await Task.WhenAll(pending);
        }));
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(25));

        Assert.Empty(mismatches);
        // INCR replies of one counter are exactly 1..count: no reply lost, duplicated or handed elsewhere.
        foreach (var (counter, replies) in incrReplies)
        {
            Assert.Equal(Enumerable.Range(1, replies.Count).Select(i => (long)i), replies.Order());
            Assert.Equal(replies.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), await redis.GetAsync(p + "ctr" + counter));
        }

        Assert.Equal(Enumerable.Range(0, Tasks * PerTask).Count(n => n % 3 == 1), incrReplies.Values.Sum(r => r.Count));

        static async Task Check(Task<RedisValue> reply, string expected, ConcurrentBag<string> mismatches)
        {
            var got = (await reply).AsString();
            if (got != expected)
            {
                mismatches.Add($"ECHO {expected} -> {got}");
            }
        }

        static async Task Record(Task<long> reply, ConcurrentBag<long> into) => into.Add(await reply);

        static async Task SetThenGet(RedisConnection redis, string key, string value, ConcurrentBag<string> mismatches)
        {
            await redis.SetAsync(key, value);
            var got = await redis.GetAsync(key);
            if (got != value)
            {
                mismatches.Add($"GET {key}: {value} -> {got}");
            }
        }
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task CancelledCommandsStillConsumeTheirOwnRepliesSoLaterCommandsStayInStep()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString);
        options.CommandTimeout = TimeSpan.FromSeconds(15);
        await using var redis = await RedisConnection.ConnectAsync(options);
        using var cts = new CancellationTokenSource();
        var mixed = new List<(Task<RedisValue> Task, string? Expected)>();

        // The server is stopped, so no reply can arrive before the cancellation: every other caller gives up
        // while its command is on the wire, and its reply, arriving later, must be absorbed by it.
        server.Pause();
        try
        {
            for (var i = 0; i < 2000; i++)
            {
                var payload = "p" + i;
                mixed.Add(i % 2 == 0
                    ? (redis.ExecuteAsync("ECHO", [payload], cts.Token), null)
                    : (redis.ExecuteAsync("ECHO", payload), payload));
            }

            await cts.CancelAsync();
            Assert.All(mixed.Where(m => m.Expected is null), m => Assert.True(m.Task.IsCanceled));
        }
        finally
        {
            server.Resume();
        }

        foreach (var (task, expected) in mixed.Where(m => m.Expected is not null))
        {
            Assert.Equal(expected, (await task.WaitAsync(TimeSpan.FromSeconds(10))).AsString());
        }

        Assert.Equal("after", (await redis.ExecuteAsync("ECHO", "after")).AsString());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => redis.ExecuteAsync("ECHO", ["never sent"], cts.Token));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task LargeValuesSplitAcrossReadsAreReassembled()
    {
        var p = TestServers.NewKeyPrefix();
        await using var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());
        var big = new string('x', 3 * 1024 * 1024) + "end";
        var small = Enumerable.Range(0, 200).Select(i => redis.ExecuteAsync("ECHO", "s" + i)).ToList();
        Assert.True(await redis.SetAsync(p + "big", big));
        var echoes = await Task.WhenAll(small);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => "s" + i), echoes.Select(e => e.AsString()));
        Assert.Equal(big, await redis.GetAsync(p + "big"));
    }
}

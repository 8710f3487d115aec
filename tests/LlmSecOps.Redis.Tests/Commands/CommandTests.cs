using LlmSecOps.Testing;

namespace LlmSecOps.Redis.Tests.Commands;

/// <summary>Every typed command against the shared real redis-server, each test with its own key prefix.</summary>
public sealed class CommandTests : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly string _p = TestServers.NewKeyPrefix();
    private RedisConnection _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync());

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task PingAnswersAndTheConnectionReportsConnected()
    {
        var rtt = await _redis.PingAsync().WaitAsync(Bound);
        Assert.True(rtt > TimeSpan.Zero);
        Assert.True(_redis.IsConnected);
        Assert.Equal(RedisConnectionState.Connected, _redis.State);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task SetThenGetRoundTripsUnicodeText()
    {
        Assert.True(await _redis.SetAsync(_p + "s", "héllo ✓ 世界"));
        Assert.Equal("héllo ✓ 世界", await _redis.GetAsync(_p + "s"));
        Assert.Null(await _redis.GetAsync(_p + "missing"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task SetWithExpiryExpiresAndReportsItsTimeToLive()
    {
        Assert.True(await _redis.SetAsync(_p + "e", "v", TimeSpan.FromMilliseconds(300)));
        var ttl = await _redis.TimeToLiveAsync(_p + "e");
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(300));
        await Task.Delay(600);
        Assert.Null(await _redis.GetAsync(_p + "e"));
        Assert.Null(await _redis.TimeToLiveAsync(_p + "e"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task SetIfNotExistsAndIfExistsHonourTheirConditions()
    {
        Assert.False(await _redis.SetAsync(_p + "c", "x", condition: RedisSetCondition.IfExists));
        Assert.True(await _redis.SetAsync(_p + "c", "1", condition: RedisSetCondition.IfNotExists));
        Assert.False(await _redis.SetAsync(_p + "c", "2", condition: RedisSetCondition.IfNotExists));
        Assert.Equal("1", await _redis.GetAsync(_p + "c"));
        Assert.True(await _redis.SetAsync(_p + "c", "3", condition: RedisSetCondition.IfExists));
        Assert.Equal("3", await _redis.GetAsync(_p + "c"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task CountersIncrementAndDecrementAtomically()
    {
        Assert.Equal(5, await _redis.IncrByAsync(_p + "n", 5));
        Assert.Equal(6, await _redis.IncrByAsync(_p + "n"));
        Assert.Equal(2, await _redis.DecrByAsync(_p + "n", 4));
        Assert.Equal(1, await _redis.DecrByAsync(_p + "n"));
        await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => _redis.IncrByAsync(_p + "n")));
        Assert.Equal("501", await _redis.GetAsync(_p + "n"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task CounterWithExpiryGetsItsTtlOnceAndKeepsIt()
    {
        Assert.Equal(1, await _redis.IncrByAsync(_p + "w", 1, TimeSpan.FromSeconds(60)));
        var first = await _redis.TimeToLiveAsync(_p + "w");
        Assert.InRange(first!.Value, TimeSpan.FromSeconds(55), TimeSpan.FromSeconds(60));
        Assert.True(await _redis.ExpireAsync(_p + "w", TimeSpan.FromSeconds(30)));
        Assert.Equal(3, await _redis.IncrByAsync(_p + "w", 2, TimeSpan.FromSeconds(60)));
        var second = await _redis.TimeToLiveAsync(_p + "w");
        Assert.InRange(second!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ExpireDelAndExistsWork()
    {
        Assert.False(await _redis.ExpireAsync(_p + "none", TimeSpan.FromSeconds(5)));
        await _redis.SetAsync(_p + "a", "1");
        await _redis.SetAsync(_p + "b", "2");
        Assert.True(await _redis.ExistsAsync(_p + "a"));
        Assert.Equal(2, await _redis.DelAsync(_p + "a", _p + "b", _p + "c"));
        Assert.False(await _redis.ExistsAsync(_p + "a"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task HashesSetGetIncrementAndDelete()
    {
        Assert.True(await _redis.HashSetAsync(_p + "h", "f1", "v1"));
        Assert.False(await _redis.HashSetAsync(_p + "h", "f1", "v1b"));
        Assert.Equal(2, await _redis.HashSetAsync(_p + "h", [("f2", "v2"), ("n", 40)]));
        Assert.Equal("v1b", await _redis.HashGetAsync(_p + "h", "f1"));
        Assert.Null(await _redis.HashGetAsync(_p + "h", "nope"));
        Assert.Equal(42, await _redis.HashIncrByAsync(_p + "h", "n", 2));
        var all = await _redis.HashGetAllAsync(_p + "h");
        Assert.Equal(new Dictionary<string, string> { ["f1"] = "v1b", ["f2"] = "v2", ["n"] = "42" }, all);
        Assert.Equal(1, await _redis.HashDeleteAsync(_p + "h", "f2", "zz"));
        Assert.Empty(await _redis.HashGetAllAsync(_p + "nohash"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ServerErrorsSurfaceAsRedisServerExceptionWithTheirCode()
    {
        await _redis.SetAsync(_p + "str", "x");
        var ex = await Assert.ThrowsAsync<RedisServerException>(() => _redis.HashGetAsync(_p + "str", "f"));
        Assert.Equal("WRONGTYPE", ex.ErrorCode);
        // The connection is still usable and in sync after an error reply.
        Assert.Equal("x", await _redis.GetAsync(_p + "str"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ExecuteSendsRawCommandsWithMixedArgumentTypes()
    {
        var reply = await _redis.ExecuteAsync("SET", _p + "raw", new byte[] { 0, 1, 2, 255 });
        Assert.Equal("OK", reply.AsString());
        var bytes = (await _redis.ExecuteAsync("GET", _p + "raw")).AsBytes();
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, bytes.ToArray());
        Assert.Equal(3.5, double.Parse((await _redis.ExecuteAsync("INCRBYFLOAT", _p + "f", 3.5)).AsString()!, System.Globalization.CultureInfo.InvariantCulture));
        var list = await _redis.ExecuteAsync("RPUSH", _p + "l", "a", "b", 3L);
        Assert.Equal(3, list.AsInt64());
        var range = await _redis.ExecuteAsync("LRANGE", _p + "l", 0, -1);
        Assert.Equal(["a", "b", "3"], range.AsArray()!.Select(v => v.AsString()));
        Assert.Equal("PONG", (await _redis.ExecuteAsync("PING")).AsString());
        Assert.Equal(RedisValueType.Null, (await _redis.ExecuteAsync("GET", _p + "nil")).Type);
    }

    [Theory(Timeout = TestTimeouts.Test)]
    [InlineData("SELECT")]
    [InlineData("multi")]
    [InlineData("SUBSCRIBE")]
    [InlineData("MONITOR")]
    public async Task ExecuteRefusesCommandsThatWouldChangeTheSharedConnection(string command)
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _redis.ExecuteAsync(command, "x"));
        Assert.Contains(command.ToUpperInvariant(), ex.Message);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ExecuteRefusesBlockingCommandsOnTheSharedConnection()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _redis.ExecuteAsync("BLPOP", _p + "q", 1));
        await Assert.ThrowsAsync<ArgumentException>(() => _redis.ExecuteAsync("XREAD", "BLOCK", 100, "STREAMS", _p + "s", "$"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task BlockingCommandsRunOnTheirOwnConnectionWithoutStallingOthers()
    {
        var blocked = _redis.ExecuteBlockingAsync(TimeSpan.FromSeconds(5), "BLPOP", _p + "q", 5);
        // While BLPOP waits, ordinary commands keep flowing.
        for (var i = 0; i < 20; i++)
        {
            await _redis.PingAsync().WaitAsync(TimeSpan.FromSeconds(2));
        }

        Assert.False(blocked.IsCompleted);
        await _redis.ExecuteAsync("RPUSH", _p + "q", "item");
        var popped = await blocked.WaitAsync(Bound);
        Assert.Equal("item", popped[1].AsString());
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ScriptLoadAndEvalShaRunLua()
    {
        const string Source = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}";
        var sha = await _redis.ScriptLoadAsync(Source);
        Assert.Equal(new RedisScript(Source).Sha1, sha);
        var reply = await _redis.EvalShaAsync(sha, [_p + "k"], ["a", 41]);
        Assert.Equal(_p + "k", reply[0].AsString());
        Assert.Equal("a", reply[1].AsString());
        Assert.Equal(42, reply[2].AsInt64());
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task RedisScriptFallsBackToScriptLoadAfterScriptFlush()
    {
        // A script body unique to this test, so no other test loads it meanwhile.
        var script = new RedisScript($"return redis.call('INCRBY', KEYS[1], ARGV[1]) -- {_p}");
        await _redis.ExecuteAsync("SCRIPT", "FLUSH");
        var noscript = await Assert.ThrowsAsync<RedisServerException>(() => _redis.EvalShaAsync(script.Sha1, [_p + "x"], [1]));
        Assert.Equal("NOSCRIPT", noscript.ErrorCode);
        Assert.Equal(5, (await script.EvaluateAsync(_redis, [_p + "x"], [5])).AsInt64());
        await _redis.ExecuteAsync("SCRIPT FLUSH");
        Assert.Equal(7, (await script.EvaluateAsync(_redis, [_p + "x"], [2])).AsInt64());
        Assert.Equal(10, (await script.EvaluateAsync(_redis, [_p + "x"], [3])).AsInt64());
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ScriptErrorsSurfaceAsServerExceptions()
    {
        var script = new RedisScript("return redis.error_reply('BADTHING happened')");
        var ex = await Assert.ThrowsAsync<RedisServerException>(() => script.EvaluateAsync(_redis));
        Assert.Equal("BADTHING", ex.ErrorCode);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task XAddTrimsApproximatelyAndExactly()
    {
        for (var i = 0; i < 300; i++)
        {
            await _redis.XAddAsync(_p + "s", [("i", i)], maxLength: 10, approximateTrim: false);
        }

        Assert.Equal(10, await _redis.XLenAsync(_p + "s"));
        for (var i = 0; i < 1000; i++)
        {
            await _redis.XAddAsync(_p + "a", [("i", i)], maxLength: 100);
        }

        // "~" trims whole macro nodes only: at least 100 remain, far fewer than 1000.
        Assert.InRange(await _redis.XLenAsync(_p + "a"), 100, 300);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task GroupCreateIsIdempotentAndReadGroupAckCycleWorks()
    {
        var stream = _p + "events";
        Assert.True(await _redis.XGroupCreateAsync(stream, "g", "0"));
        Assert.False(await _redis.XGroupCreateAsync(stream, "g", "0"));
        var id1 = await _redis.XAddAsync(stream, [("ts", 1), ("key_id", "abc")]);
        var id2 = await _redis.XAddAsync(stream, [("ts", 2), ("key_id", "def")]);
        var read = await _redis.XReadGroupAsync("g", "c1", stream, 10);
        Assert.Equal([id1, id2], read.Select(e => e.Id));
        Assert.Equal("abc", read[0]["key_id"]);
        Assert.Equal("2", read[1]["ts"]);
        Assert.Equal(2, await _redis.XPendingCountAsync(stream, "g"));
        Assert.Equal(1, await _redis.XAckAsync(stream, "g", id1));
        Assert.Equal(1, await _redis.XPendingCountAsync(stream, "g"));
        // "0" re-reads this consumer's pending entries.
        var pending = await _redis.XReadGroupAsync("g", "c1", stream, 10, id: "0");
        Assert.Equal(id2, Assert.Single(pending).Id);
        Assert.Empty(await _redis.XReadGroupAsync("g", "c1", stream, 10));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task BlockingReadGroupWaitsForNewEntriesWithoutStallingOtherCommands()
    {
        var stream = _p + "blk";
        await _redis.XGroupCreateAsync(stream, "g");
        var empty = await _redis.XReadGroupAsync("g", "c", stream, 10, block: TimeSpan.FromMilliseconds(200)).WaitAsync(Bound);
        Assert.Empty(empty);

        var waiting = _redis.XReadGroupAsync("g", "c", stream, 10, block: TimeSpan.FromSeconds(5));
        await _redis.PingAsync().WaitAsync(TimeSpan.FromSeconds(2));
        Assert.False(waiting.IsCompleted);
        var id = await _redis.XAddAsync(stream, [("x", "y")]);
        var got = await waiting.WaitAsync(Bound);
        Assert.Equal(id, Assert.Single(got).Id);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task AutoClaimTakesOverEntriesLeftPendingByACrashedConsumer()
    {
        var stream = _p + "claim";
        await _redis.XGroupCreateAsync(stream, "g", "0");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await _redis.XAddAsync(stream, [("n", i)]));
        }

        // "crashed" reads everything and dies without acknowledging.
        await using (var crashed = await RedisConnection.ConnectAsync(await TestServers.RedisAsync()))
        {
            Assert.Equal(5, (await crashed.XReadGroupAsync("g", "crashed", stream, 10)).Count);
        }

        // Too fresh to claim with a long idle threshold.
        var none = await _redis.XAutoClaimAsync(stream, "g", "rescuer", TimeSpan.FromMinutes(5));
        Assert.Empty(none.Entries);

        await Task.Delay(150);
        await _redis.ExecuteAsync("XDEL", stream, ids[4]);
        var claimed = await _redis.XAutoClaimAsync(stream, "g", "rescuer", TimeSpan.FromMilliseconds(100), count: 10);
        Assert.Equal(ids.Take(4), claimed.Entries.Select(e => e.Id));
        Assert.Equal("2", claimed.Entries[2]["n"]);
        Assert.Equal([ids[4]], claimed.DeletedIds);
        Assert.Equal("0-0", claimed.NextStartId);
        Assert.Equal(4, await _redis.XAckAsync(stream, "g", [.. claimed.Entries.Select(e => e.Id)]));
        Assert.Equal(0, await _redis.XPendingCountAsync(stream, "g"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task PublishReachesSubscribersInOrderAndDisposeUnsubscribes()
    {
        var channel = _p + "ch";
        var received = new List<string>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sub = await _redis.SubscribeAsync(channel, (ch, msg) =>
        {
            Assert.Equal(channel, ch);
            lock (received)
            {
                received.Add(msg.AsString()!);
                if (received.Count == 100)
                {
                    done.TrySetResult();
                }
            }
        });

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(1, await _redis.PublishAsync(channel, $"m{i}"));
        }

        await done.Task.WaitAsync(Bound);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"m{i}"), received);

        await sub.DisposeAsync();
        Assert.Equal(0, await _redis.PublishAsync(channel, "after"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task TwoHandlersOnOneChannelBothReceiveAndTheChannelStaysUntilTheLastGoes()
    {
        var channel = _p + "two";
        var a = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var b = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var subA = await _redis.SubscribeAsync(channel, (_, m) => a.TrySetResult(m.AsString()!));
        var subB = await _redis.SubscribeAsync(channel, (_, m) => b.TrySetResult(m.AsString()!));
        await _redis.PublishAsync(channel, "hi");
        Assert.Equal("hi", await a.Task.WaitAsync(Bound));
        Assert.Equal("hi", await b.Task.WaitAsync(Bound));
        await subA.DisposeAsync();
        Assert.Equal(1, await _redis.PublishAsync(channel, "still"));
        await subB.DisposeAsync();
        Assert.Equal(0, await _redis.PublishAsync(channel, "gone"));
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task AHandlerThatThrowsDoesNotBreakDelivery()
    {
        var channel = _p + "throw";
        var got = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var bad = await _redis.SubscribeAsync(channel, (_, _) => throw new InvalidOperationException("boom"));
        await using var good = await _redis.SubscribeAsync(channel, (_, m) => got.TrySetResult(m.AsString()!));
        await _redis.PublishAsync(channel, "x");
        Assert.Equal("x", await got.Task.WaitAsync(Bound));
        Assert.Equal("PONG", (await _redis.ExecuteAsync("PING")).AsString());
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task SelectedDatabaseFromTheConnectionStringIsUsed()
    {
        var baseString = await TestServers.RedisAsync();
        await using var db3 = await RedisConnection.ConnectAsync(baseString + ",defaultDatabase=3");
        await db3.SetAsync(_p + "db", "three");
        Assert.Null(await _redis.GetAsync(_p + "db"));
        Assert.Equal("three", await db3.GetAsync(_p + "db"));
        Assert.Equal(3, (await db3.ExecuteAsync("CLIENT", "INFO")).AsString()!.Split(' ').Single(p => p.StartsWith("db=", StringComparison.Ordinal))[3] - '0');
    }
}

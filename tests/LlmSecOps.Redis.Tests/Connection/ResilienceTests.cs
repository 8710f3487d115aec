using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using LlmSecOps.Testing.Redis;

namespace LlmSecOps.Redis.Tests.Connection;

/// <summary>A private redis-server per test, killed (SIGKILL), paused (SIGSTOP) and restarted under the client.</summary>
public sealed class ResilienceTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task KillAndRestartUnderLoadNeverHangsNeverMismatchesRecoversAndKeepsEveryAcknowledgedWrite()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { AppendOnly = true });
        var options = RedisOptions.Parse(server.ConnectionString);
        options.CommandTimeout = TimeSpan.FromSeconds(2);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(500);
        await using var redis = await RedisConnection.ConnectAsync(options);
        var disconnects = 0;
        redis.Disconnected += (_, _) => Interlocked.Increment(ref disconnects);

        var acknowledged = new ConcurrentDictionary<string, string>();
        var mismatches = new ConcurrentBag<string>();
        var failures = new ConcurrentBag<Exception>();
        var slowest = 0L;
        var successesAfterRestart = 0;
        var restarted = false;
        using var stop = new CancellationTokenSource();

        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var seq = 0; !stop.IsCancellationRequested; seq++)
            {
                var key = $"w{w}:{seq}";
                var value = $"{w}-{seq}-{Guid.NewGuid():N}";
                var started = Stopwatch.GetTimestamp();
                try
                {
                    // A write on its own key plus an ECHO in the same pipeline: a reply handed to the wrong
                    // command would show up as a wrong ECHO payload.
                    var set = redis.SetAsync(key, value);
                    var echo = redis.ExecuteAsync("ECHO", value);
                    await set;
                    acknowledged[key] = value;
                    var echoed = (await echo).AsString();
                    if (echoed != value)
                    {
                        mismatches.Add($"ECHO {value} -> {echoed}");
                    }

                    if (Volatile.Read(ref restarted))
                    {
                        Interlocked.Increment(ref successesAfterRestart);
                    }
                }
                catch (Exception ex)
                {
                    failures.Add(ex);
                    await Task.Delay(5);
                }
                finally
                {
                    var ms = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    InterlockedMax(ref slowest, ms);
                }
            }
        })).ToList();

        await WaitUntil(() => acknowledged.Count >= 500, "load to start");
        server.Kill();
        await Task.Delay(1000);
        Assert.False(redis.IsConnected);
        var failuresWhileDown = failures.Count;
        await server.RestartAsync();
        Volatile.Write(ref restarted, true);
        await WaitUntil(() => Volatile.Read(ref successesAfterRestart) >= 500, "recovery after restart");
        await stop.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(Bound);

        Assert.Empty(mismatches);
        Assert.True(failuresWhileDown > 0, "commands while the server was down should have failed");
        // Every failure is one of the documented, clear exceptions: nothing else leaks out.
        Assert.All(failures, ex => Assert.True(ex is RedisConnectionException or RedisTimeoutException, ex.ToString()));
        Assert.Contains(failures, ex => ex is RedisConnectionException && ex.Message.Contains(options.EndPointText, StringComparison.Ordinal));
        Assert.InRange(slowest, 0, (long)options.CommandTimeout.TotalMilliseconds + 3000);
        Assert.True(disconnects >= 1);
        Assert.True(redis.IsConnected);

        // appendonly yes + appendfsync always: every write acknowledged before the kill survived it.
        server.Kill();
        await server.RestartAsync();
        await WaitUntil(() => redis.IsConnected, "reconnect after the second restart");
        var keys = acknowledged.Keys.ToList();
        var lost = new List<string>();
        foreach (var chunk in keys.Chunk(500))
        {
            var values = await Task.WhenAll(chunk.Select(k => RetryAsync(() => redis.GetAsync(k))));
            for (var i = 0; i < chunk.Length; i++)
            {
                if (values[i] != acknowledged[chunk[i]])
                {
                    lost.Add(chunk[i]);
                }
            }
        }

        Assert.True(keys.Count > 1000, $"only {keys.Count} writes acknowledged");
        Assert.Empty(lost);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task WithAbortConnectFalseConnectReturnsWhileTheServerIsDownAndRecoversWhenItStarts()
    {
        await using var server = await RedisServerProcess.StartAsync();
        server.Kill();
        var started = Stopwatch.GetTimestamp();
        await using var redis = await RedisConnection.ConnectAsync(server.ConnectionString + ",abortConnect=false,connectTimeout=1000").WaitAsync(Bound);
        Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(5));
        Assert.False(redis.IsConnected);

        var failFast = Stopwatch.GetTimestamp();
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.GetAsync("k"));
        Assert.True(Stopwatch.GetElapsedTime(failFast) < TimeSpan.FromSeconds(1), "commands must fail fast while down");
        Assert.Contains($"127.0.0.1:{server.Port}", ex.Message);
        Assert.Contains("not available", ex.Message);

        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        redis.Connected += (_, e) =>
        {
            if (e.Kind == RedisConnectionKind.Interactive)
            {
                connected.TrySetResult();
            }
        };
        await server.RestartAsync();
        await connected.Task.WaitAsync(Bound);
        Assert.True(await redis.SetAsync("k", "v"));
        Assert.Equal("v", await redis.GetAsync("k"));
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task ConnectThrowsAClearErrorWhenTheServerIsDownAndAbortConnectIsDefault()
    {
        await using var server = await RedisServerProcess.StartAsync();
        server.Kill();
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisConnection.ConnectAsync(server.ConnectionString).WaitAsync(Bound));
        Assert.Contains($"127.0.0.1:{server.Port}", ex.Message);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task AHungServerMakesCommandsTimeOutThenTheConnectionIsReplacedAfterItWakesUp()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString);
        options.CommandTimeout = TimeSpan.FromMilliseconds(500);
        options.ConnectTimeout = TimeSpan.FromMilliseconds(500);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        using var metrics = new MetricsRecorder(server.Port);
        await using var redis = await RedisConnection.ConnectAsync(options);
        await redis.SetAsync("before", "1");

        server.Pause();
        try
        {
            var started = Stopwatch.GetTimestamp();
            var inFlight = Enumerable.Range(0, 100).Select(i => redis.ExecuteAsync("ECHO", "x" + i)).ToList();
            var timeout = await Assert.ThrowsAsync<RedisTimeoutException>(() => inFlight[0]);
            Assert.Contains("ECHO", timeout.Message);
            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(3));
            foreach (var t in inFlight)
            {
                var ex = await Assert.ThrowsAnyAsync<RedisException>(() => t.WaitAsync(Bound));
                Assert.True(ex is RedisTimeoutException or RedisConnectionException, ex.ToString());
            }

            // Nothing answers for a whole command timeout: the socket is dropped, new commands fail fast.
            await WaitUntil(() => !redis.IsConnected, "the silent connection to be dropped");
            await Assert.ThrowsAsync<RedisConnectionException>(() => redis.GetAsync("before"));
        }
        finally
        {
            server.Resume();
        }

        await WaitUntil(() => redis.IsConnected, "reconnect after SIGCONT");
        Assert.Equal("1", await redis.GetAsync("before"));
        Assert.Equal("fresh", (await redis.ExecuteAsync("ECHO", "fresh")).AsString());

        // The outage is visible in metrics, tagged with this server's port.
        Assert.True(metrics.Sum("llmsecops.redis.command_timeouts", "interactive") >= 1);
        Assert.True(metrics.Sum("llmsecops.redis.connections_lost", "interactive") >= 1);
        Assert.True(metrics.Sum("llmsecops.redis.connects", "interactive") >= 2);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task AnIdleSubscriberNoticesAHungServerThroughKeepAlivePingsAndComesBack()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString + ",keepAlive=1,syncTimeout=500,connectTimeout=3000");
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        await using var redis = await RedisConnection.ConnectAsync(options);
        var lost = new TaskCompletionSource<RedisConnectionEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        redis.Disconnected += (_, e) =>
        {
            if (e.Kind == RedisConnectionKind.Subscriber)
            {
                lost.TrySetResult(e);
            }
        };
        redis.SubscriptionsRestored += (_, _) => restored.TrySetResult();
        var got = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var sub = await redis.SubscribeAsync("idle", (_, m) => got.TrySetResult(m.AsString()!)).WaitAsync(Bound);

        // No command is sent by the test: only the keep-alive PING can find out that the peer stopped answering.
        server.Pause();
        try
        {
            var args = await lost.Task.WaitAsync(Bound);
            Assert.IsType<RedisConnectionException>(args.Exception, exactMatch: false);
        }
        finally
        {
            server.Resume();
        }

        await restored.Task.WaitAsync(Bound);
        await WaitUntil(() => redis.IsConnected, "interactive reconnect");
        Assert.Equal(1, await RetryAsync(() => redis.PublishAsync("idle", "back")));
        Assert.Equal("back", await got.Task.WaitAsync(Bound));
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task SubscriptionsAreRestoredAfterARestartAndCallersAreTold()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        await using var redis = await RedisConnection.ConnectAsync(options);
        var messages = new BlockingCollection<string>();
        await using var sub = await redis.SubscribeAsync("revocations", (_, m) => messages.Add(m.AsString()!)).WaitAsync(Bound);
        await redis.PublishAsync("revocations", "one");
        Assert.True(messages.TryTake(out var first, 5000));
        Assert.Equal("one", first);

        var restored = new TaskCompletionSource<RedisConnectionEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        redis.SubscriptionsRestored += (_, e) => restored.TrySetResult(e);
        server.Kill();
        await server.RestartAsync();
        var args = await restored.Task.WaitAsync(Bound);
        Assert.True(args.IsReconnect);
        Assert.Equal(RedisConnectionKind.Subscriber, args.Kind);

        await WaitUntil(() => redis.IsConnected, "interactive reconnect");
        Assert.Equal(1, await RetryAsync(() => redis.PublishAsync("revocations", "two")));
        Assert.True(messages.TryTake(out var second, 5000));
        Assert.Equal("two", second);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task ABlockingReadInFlightFailsPromptlyWhenTheServerDiesAndWorksAfterTheRestart()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        await using var redis = await RedisConnection.ConnectAsync(options);
        await redis.XGroupCreateAsync("s", "g");
        var blocked = redis.XReadGroupAsync("g", "c", "s", 10, block: TimeSpan.FromSeconds(30));
        await Task.Delay(200);
        Assert.False(blocked.IsCompleted);

        var killedAt = Stopwatch.GetTimestamp();
        server.Kill();
        await Assert.ThrowsAsync<RedisConnectionException>(() => blocked.WaitAsync(Bound));
        Assert.True(Stopwatch.GetElapsedTime(killedAt) < TimeSpan.FromSeconds(5), "a dead server must not leave a blocking read hanging for its block time");

        await server.RestartAsync();
        await WaitUntil(() => redis.IsConnected, "reconnect");
        // No persistence: the stream and group are gone; recreate them and read again on the blocking lane.
        await redis.XGroupCreateAsync("s", "g");
        var again = RetryAsync(() => redis.XReadGroupAsync("g", "c", "s", 10, block: TimeSpan.FromSeconds(5)));
        await Task.Delay(300);
        var id = await redis.XAddAsync("s", [("k", "v")]);
        Assert.Equal(id, Assert.Single(await again.WaitAsync(Bound)).Id);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task ScriptsRunAgainAfterARestartEmptiedTheScriptCache()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = RedisOptions.Parse(server.ConnectionString);
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        await using var redis = await RedisConnection.ConnectAsync(options);
        var script = new RedisScript("return tonumber(ARGV[1]) * 2");
        Assert.Equal(42, (await script.EvaluateAsync(redis, args: [21])).AsInt64());

        server.Kill();
        await server.RestartAsync();
        await WaitUntil(() => redis.IsConnected, "reconnect");
        var noscript = await Assert.ThrowsAsync<RedisServerException>(() => RetryAsync(() => redis.EvalShaAsync(script.Sha1, args: [1])));
        Assert.Equal("NOSCRIPT", noscript.ErrorCode);
        Assert.Equal(10, (await script.EvaluateAsync(redis, args: [5])).AsInt64());
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task DisposeFailsPendingCommandsAndLaterCommandsClearly()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var redis = await RedisConnection.ConnectAsync(server.ConnectionString);
        server.Pause();
        try
        {
            var pending = redis.ExecuteAsync("ECHO", "x");
            await redis.DisposeAsync();
            await Assert.ThrowsAsync<RedisConnectionException>(() => pending.WaitAsync(Bound));
            var ex = await Assert.ThrowsAsync<RedisConnectionException>(() => redis.GetAsync("k"));
            Assert.Contains("disposed", ex.Message);
            Assert.Equal(RedisConnectionState.Disposed, redis.State);
        }
        finally
        {
            server.Resume();
        }
    }

    private sealed class MetricsRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<(string Instrument, string Kind), long> _sums = new();

        public MetricsRecorder(int port)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == RedisMetrics.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string? kind = null;
                var ours = false;
                foreach (var tag in tags)
                {
                    if (tag.Key == "server.port" && tag.Value is int p && p == port)
                    {
                        ours = true;
                    }
                    else if (tag.Key == "redis.connection.kind")
                    {
                        kind = tag.Value as string;
                    }
                }

                if (ours && kind is not null)
                {
                    _sums.AddOrUpdate((instrument.Name, kind), value, (_, v) => v + value);
                }
            });
            _listener.Start();
        }

        public long Sum(string instrument, string kind) => _sums.GetValueOrDefault((instrument, kind));

        public void Dispose() => _listener.Dispose();
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(Bound.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }

            await Task.Delay(20);
        }
    }

    // Right after a reconnect event the other lanes may still be coming up: retry connection errors briefly.
    private static async Task<T> RetryAsync<T>(Func<Task<T>> action)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await action();
            }
            catch (RedisConnectionException) when (attempt < 100)
            {
                await Task.Delay(50);
            }
        }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Volatile.Read(ref target);
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

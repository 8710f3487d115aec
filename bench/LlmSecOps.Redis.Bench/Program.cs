using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using LlmSecOps.Redis;

// Pipelined throughput of our client versus redis-benchmark against the same redis-server, in one run.
// Usage: dotnet run -c Release --project bench/LlmSecOps.Redis.Bench -- [--clients 50] [--pipeline 16]
//        [--requests 200000] [--rounds 3] [--redis host:port]
var settings = Settings.Parse(args);
var benchmarkTool = Which("redis-benchmark") ?? throw new InvalidOperationException("redis-benchmark not found: apt-get install -y redis-tools (or redis-server).");

Process? ownServer = null;
var endpoint = settings.Redis;
if (endpoint is null)
{
    var port = FreePort();
    ownServer = Process.Start(new ProcessStartInfo(Which("redis-server") ?? throw new InvalidOperationException("redis-server not found: apt-get install -y redis-server"),
        ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
    {
        RedirectStandardOutput = true,
        UseShellExecute = false,
    })!;
    endpoint = $"127.0.0.1:{port}";
}

try
{
    var options = RedisOptions.Parse(endpoint);
    options.CommandTimeout = TimeSpan.FromSeconds(30);
    await using var redis = await ConnectWithRetryAsync(options);
    var inFlight = settings.Clients * settings.Pipeline;
    Console.WriteLine($"server {options.EndPointText}; {Environment.ProcessorCount} cores; {settings.Requests:N0} requests per test; {settings.Rounds} rounds (median)");
    Console.WriteLine($"ours: 1 connection, {inFlight} concurrent callers (each awaits its command, then sends the next)");
    Console.WriteLine($"redis-benchmark A: -c {settings.Clients} -P {settings.Pipeline} ({inFlight} in flight over {settings.Clients} connections)");
    Console.WriteLine($"redis-benchmark B: -c 1 -P {inFlight} ({inFlight} in flight over 1 connection)");
    Console.WriteLine();

    var tests = new (string Name, Func<RedisConnection, Task> Op)[]
    {
        ("SET", r => r.SetAsync("key:__rand_int__", "xxx")),
        ("GET", r => r.GetAsync("key:__rand_int__")),
        ("INCR", r => r.IncrByAsync("counter:__rand_int__")),
    };

    // Warm-up: JIT, tiered compilation, connection pools.
    foreach (var (_, op) in tests)
    {
        await RunOursAsync(redis, op, inFlight, Math.Min(50_000, settings.Requests));
    }

    var results = tests.ToDictionary(t => t.Name, _ => (Ours: new List<double>(), A: new List<double>(), B: new List<double>(), Alloc: new List<double>()));
    for (var round = 1; round <= settings.Rounds; round++)
    {
        foreach (var (name, op) in tests)
        {
            var (rps, bytesPerOp) = await RunOursAsync(redis, op, inFlight, settings.Requests);
            results[name].Ours.Add(rps);
            results[name].Alloc.Add(bytesPerOp);
        }

        var a = RunRedisBenchmark(benchmarkTool, options, settings.Clients, settings.Pipeline, settings.Requests);
        var b = RunRedisBenchmark(benchmarkTool, options, 1, inFlight, settings.Requests);
        foreach (var (name, _) in tests)
        {
            results[name].A.Add(a[name]);
            results[name].B.Add(b[name]);
        }

        Console.WriteLine($"round {round}: " + string.Join("  ", tests.Select(t =>
            $"{t.Name} ours {results[t.Name].Ours[^1]:N0} / A {results[t.Name].A[^1]:N0} / B {results[t.Name].B[^1]:N0}")));
    }

    Console.WriteLine();
    Console.WriteLine("| command | ours (req/s) | redis-benchmark -c " + settings.Clients + " -P " + settings.Pipeline + " | ratio | redis-benchmark -c 1 -P " + inFlight + " | ratio | allocated per command |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
    foreach (var (name, _) in tests)
    {
        var r = results[name];
        var ours = Median(r.Ours);
        var a = Median(r.A);
        var b = Median(r.B);
        Console.WriteLine($"| {name} | {ours:N0} | {a:N0} | {ours / a:0.00} | {b:N0} | {ours / b:0.00} | {Median(r.Alloc):N0} B |");
    }
}
finally
{
    if (ownServer is not null)
    {
        ownServer.Kill();
        await ownServer.WaitForExitAsync();
    }
}

static async Task<(double Rps, double BytesPerOp)> RunOursAsync(RedisConnection redis, Func<RedisConnection, Task> op, int callers, int requests)
{
    var remaining = requests;
    var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    var started = Stopwatch.GetTimestamp();
    var workers = new Task[callers];
    for (var i = 0; i < callers; i++)
    {
        workers[i] = Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref remaining) >= 0)
            {
                await op(redis);
            }
        });
    }

    await Task.WhenAll(workers);
    var elapsed = Stopwatch.GetElapsedTime(started);
    var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
    return (requests / elapsed.TotalSeconds, (double)allocated / requests);
}

static Dictionary<string, double> RunRedisBenchmark(string tool, RedisOptions options, int clients, int pipeline, int requests)
{
    var psi = new ProcessStartInfo(tool)
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
    };
    foreach (var arg in new[]
    {
        "-h", options.Host, "-p", options.Port.ToString(CultureInfo.InvariantCulture),
        "-c", clients.ToString(CultureInfo.InvariantCulture), "-P", pipeline.ToString(CultureInfo.InvariantCulture),
        "-n", requests.ToString(CultureInfo.InvariantCulture), "-t", "set,get,incr", "--csv",
    })
    {
        psi.ArgumentList.Add(arg);
    }

    using var process = Process.Start(psi)!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    var result = new Dictionary<string, double>(StringComparer.Ordinal);
    foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
    {
        var cells = line.Split(',').Select(c => c.Trim().Trim('"')).ToArray();
        if (cells.Length >= 2 && double.TryParse(cells[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var rps))
        {
            result[cells[0]] = rps;
        }
    }

    return result;
}

static async Task<RedisConnection> ConnectWithRetryAsync(RedisOptions options)
{
    for (var attempt = 0; ; attempt++)
    {
        try
        {
            return await RedisConnection.ConnectAsync(options);
        }
        catch (RedisConnectionException) when (attempt < 100)
        {
            await Task.Delay(50);
        }
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted[sorted.Count / 2];
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static string? Which(string name) =>
    (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(dir => Path.Combine(dir, name))
        .FirstOrDefault(File.Exists);

internal sealed record Settings(int Clients, int Pipeline, int Requests, int Rounds, string? Redis)
{
    public static Settings Parse(string[] args)
    {
        var s = new Settings(50, 16, 200_000, 3, null);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            s = args[i] switch
            {
                "--clients" => s with { Clients = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--pipeline" => s with { Pipeline = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--requests" => s with { Requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--rounds" => s with { Rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture) },
                "--redis" => s with { Redis = args[i + 1] },
                _ => throw new ArgumentException($"Unknown option {args[i]}. Options: --clients --pipeline --requests --rounds --redis"),
            };
        }

        return s;
    }
}

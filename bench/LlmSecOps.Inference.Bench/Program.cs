using System.Diagnostics;
using System.Net;
using System.Text;
using LlmSecOps.Geo.Lookup;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Parameters;
using LlmSecOps.Inference.Routing;
using LlmSecOps.Inference.Streaming;

// A plain stopwatch harness (BenchmarkDotNet's many processes are impractical on the shared 2-core build machine):
// each case is warmed up, then timed over several rounds; the median round is reported with bytes allocated per
// operation (exact: GC.GetAllocatedBytesForCurrentThread). Run: dotnet run -c Release --project bench/LlmSecOps.Inference.Bench
var chat = RouteTable.Get(EndpointId.OpenAiChatCompletions);
var ollama = RouteTable.Get(EndpointId.OllamaChat);
var policy = new TierParameterPolicy();
var smallBody = Encoding.UTF8.GetBytes("""{"model":"llama3","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about the sea, and explain its imagery in two sentences."}],"temperature":0.7,"stream":true}""");
var bigPrompt = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 700));
var bigBody = Encoding.UTF8.GetBytes("{\"model\":\"llama3\",\"messages\":[{\"role\":\"user\",\"content\":\"" + bigPrompt + "\"}],\"options\":{\"num_ctx\":4096}}");
var answer = string.Concat(Enumerable.Repeat("Sure, here is a detailed answer with numbers like 42 and 2024 and a Name. ", 50));
var tokens = answer.Split(' ').Select(w => " " + w).ToArray();
var sseChunk = Encoding.UTF8.GetBytes("""{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"llama3","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}""");
var geo = GeoIpDatabase.LoadDefault();
var v4 = IPAddress.Parse("81.2.69.160");
var v6 = IPAddress.Parse("2a02:c7f:1234::1");

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start");
Console.WriteLine("| case | ns/op (median of 7 rounds) | bytes allocated/op |");
Console.WriteLine("|---|---:|---:|");
Run("route match, allowed (POST /v1/chat/completions)", 200_000, () => RouteTable.Match("POST", "/v1/chat/completions"));
Run("route match, refused (/api%2Fpull, classified)", 50_000, () => RouteTable.Match("POST", "/api%2Fpull"));
Run($"parse + policy, {smallBody.Length} B chat body (inject max_tokens + include_usage)", 50_000, () => ParameterPolicyEnforcer.Apply(RequestBodyParser.Parse(chat, smallBody), smallBody, policy));
Run($"parse + policy, {bigBody.Length / 1024} KiB Ollama body (inject num_predict)", 2_000, () => ParameterPolicyEnforcer.Apply(RequestBodyParser.Parse(ollama, bigBody), bigBody, policy));
var parsedBig = RequestBodyParser.Parse(ollama, bigBody);
Run($"input guards (injection + secrets + PII), {bigBody.Length / 1024} KiB prompt", 200, () => InputGuard.Evaluate(parsedBig, bigBody, new InputGuardPolicy()));
Run($"batch redaction, {answer.Length / 1024.0:F1} KiB answer", 500, () => Redaction.Redact(answer));
Run($"streaming redaction, {tokens.Length} token pushes (per stream)", 200, () =>
{
    var r = new StreamingRedactor();
    foreach (var t in tokens)
    {
        r.Push(t);
    }

    return r.Flush();
});
var keyBlock = "-----BEGIN PRIVATE KEY-----\n" + string.Concat(Enumerable.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n", 440)) + "-----END PRIVATE KEY-----";
Run($"streaming redaction, {keyBlock.Length / 1024} KiB private key block in 4-char pushes (per stream)", 5, () =>
{
    var r = new StreamingRedactor();
    for (var i = 0; i < keyBlock.Length; i += 4)
    {
        r.Push(keyBlock.AsSpan(i, Math.Min(4, keyBlock.Length - i)));
    }

    return r.Flush();
});
var parser = new OpenAiChunkParser();
Run("OpenAI SSE chunk parse (one delta)", 200_000, () => parser.Parse(sseChunk).Content.Count);
Run("geo look-up IPv4", 1_000_000, () => geo.Lookup(v4));
Run("geo look-up IPv6", 1_000_000, () => geo.Lookup(v6));

var loads = new List<double>();
var kept = new List<GeoIpDatabase>();
long retained = 0;
for (var i = 0; i < 3; i++)
{
    var before = GC.GetTotalMemory(true);
    var sw = Stopwatch.StartNew();
    kept.Add(GeoIpDatabase.LoadDefault());
    loads.Add(sw.Elapsed.TotalMilliseconds);
    retained = GC.GetTotalMemory(true) - before;
}

GC.KeepAlive(kept);

Console.WriteLine($"geo load (both files): {loads.Order().ElementAt(1):F0} ms median of 3; retained {retained / 1024.0 / 1024.0:F2} MiB; payload {geo.PayloadBytes / 1024.0 / 1024.0:F2} MiB; {geo.Ipv4Entries} IPv4 + {geo.Ipv6Entries} IPv6 entries");
Console.WriteLine($"load average at end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");

static void Run<T>(string name, int iterations, Func<T> op)
{
    for (var i = 0; i < Math.Max(100, iterations / 10); i++)
    {
        op();
    }

    var rounds = new double[7];
    long bytes = 0;
    for (var round = 0; round < rounds.Length; round++)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            op();
        }

        rounds[round] = sw.Elapsed.TotalNanoseconds / iterations;
        bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / iterations;
    }

    Array.Sort(rounds);
    Console.WriteLine($"| {name} | {rounds[3]:N0} | {bytes:N0} |");
}

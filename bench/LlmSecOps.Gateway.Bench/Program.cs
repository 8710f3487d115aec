using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlmSecOps.Gateway.Bench;

// Latency probe for bench/gateway/bench.py: one keep-alive connection, one request at a time (concurrency 1),
// for a fixed time after a warm-up. For each successful request it records the time from sending the request to
// the first SSE `data:` line (first body byte when not streaming), to the first data line carrying a content token
// (streaming), and to the end of the response.
// Prints one JSON object on stdout (microseconds). Timings are printed, never asserted.
//
// Usage: LlmSecOps.Gateway.Bench --url http://127.0.0.1:PORT/v1/chat/completions --body-file body.json
//        [--header "Name: value"]... [--duration 5] [--warmup 1] [--stream]
ProbeOptions options;
try
{
    options = ProbeOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"error: {e.Message}");
    await Console.Error.WriteLineAsync(ProbeOptions.Usage);
    return 2;
}

using var handler = new SocketsHttpHandler
{
    MaxConnectionsPerServer = 1,
    UseProxy = false,
    UseCookies = false,
    AutomaticDecompression = DecompressionMethods.None,
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
};
using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
var body = await File.ReadAllBytesAsync(options.BodyFile);
var buffer = new byte[64 * 1024];
var probe = new Probe(client, options, body, buffer);

await probe.RunForAsync(options.Warmup, record: false);
var result = await probe.RunForAsync(options.Duration, record: true);

var json = JsonSerializer.Serialize(new Dictionary<string, object?>
{
    ["requests"] = result.Total.Count,
    ["errors"] = result.Errors,
    ["error_frames"] = result.ErrorFrames,
    ["first_error"] = result.FirstError,
    ["seconds"] = Math.Round(result.Elapsed.TotalSeconds, 3),
    ["first_data_p50_us"] = Stats.Percentile(result.FirstData, 50),
    ["first_data_p99_us"] = Stats.Percentile(result.FirstData, 99),
    ["first_token_p50_us"] = Stats.Percentile(result.FirstToken, 50),
    ["first_token_p99_us"] = Stats.Percentile(result.FirstToken, 99),
    ["total_p50_us"] = Stats.Percentile(result.Total, 50),
    ["total_p99_us"] = Stats.Percentile(result.Total, 99),
    ["total_mean_us"] = Stats.Mean(result.Total),
});
Console.WriteLine(json);
return result.Total.Count == 0 ? 1 : 0;

namespace LlmSecOps.Gateway.Bench
{
    /// <summary>Command-line options of the probe.</summary>
    internal sealed record ProbeOptions(Uri Url, string BodyFile, IReadOnlyList<(string Name, string Value)> Headers,
        TimeSpan Duration, TimeSpan Warmup, bool Stream)
    {
        public const string Usage =
            "usage: LlmSecOps.Gateway.Bench --url URL --body-file FILE [--header \"Name: value\"]... [--duration 5] [--warmup 1] [--stream]";

        public static ProbeOptions Parse(string[] args)
        {
            Uri? url = null;
            string? bodyFile = null;
            var headers = new List<(string, string)>();
            double duration = 5, warmup = 1;
            var stream = false;
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--url":
                        url = Uri.TryCreate(Next(), UriKind.Absolute, out var u) && u.Scheme is "http" or "https"
                            ? u : throw new ArgumentException("--url must be an absolute http(s) URL");
                        break;
                    case "--body-file":
                        bodyFile = Next();
                        break;
                    case "--header":
                        var header = Next();
                        var colon = header.IndexOf(':', StringComparison.Ordinal);
                        if (colon <= 0)
                        {
                            throw new ArgumentException($"--header '{header}' is not 'Name: value'");
                        }

                        headers.Add((header[..colon].Trim(), header[(colon + 1)..].Trim()));
                        break;
                    case "--duration":
                        duration = Seconds(Next(), "--duration");
                        break;
                    case "--warmup":
                        warmup = Seconds(Next(), "--warmup");
                        break;
                    case "--stream":
                        stream = true;
                        break;
                    default:
                        throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }

            if (url is null || bodyFile is null)
            {
                throw new ArgumentException("--url and --body-file are required");
            }

            if (!File.Exists(bodyFile))
            {
                throw new ArgumentException($"--body-file '{bodyFile}' does not exist");
            }

            return new ProbeOptions(url, bodyFile, headers, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(warmup), stream);
        }

        private static double Seconds(string text, string name) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is >= 0 and <= 600
                ? value : throw new ArgumentException($"{name} must be a number of seconds between 0 and 600");
    }

    /// <summary>
    /// What one timed run measured, in microseconds per successful request: to the first SSE <c>data:</c> line (first
    /// body byte when not streaming), to the first content token (streaming only), to the end of the response.
    /// </summary>
    internal sealed record ProbeResult(List<double> FirstData, List<double> FirstToken, List<double> Total, int Errors, int ErrorFrames, string? FirstError, TimeSpan Elapsed);

    /// <summary>Sends requests one after another on one connection and times them.</summary>
    internal sealed class Probe(HttpClient client, ProbeOptions options, byte[] body, byte[] buffer)
    {
        private static readonly MediaTypeHeaderValue Json = new("application/json");
        private static readonly double MicrosPerTick = 1_000_000.0 / Stopwatch.Frequency;

        public async Task<ProbeResult> RunForAsync(TimeSpan duration, bool record)
        {
            var firstData = new List<double>(100_000);
            var firstToken = new List<double>(100_000);
            var total = new List<double>(100_000);
            var errors = 0;
            var errorFrames = 0;
            string? firstError = null;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                var timing = await OneAsync();
                if (timing.Error is not null)
                {
                    errors++;
                    firstError ??= timing.Error;
                    continue;
                }

                if (timing.ErrorFrame)
                {
                    // The first token arrived (timed below) but the stream was cut short by an error frame.
                    errorFrames++;
                    firstError ??= "stream ended with an error frame (data: {\"error\":...})";
                }

                if (record)
                {
                    firstData.Add(timing.FirstData * MicrosPerTick);
                    if (options.Stream)
                    {
                        firstToken.Add(timing.FirstToken * MicrosPerTick);
                    }

                    total.Add(timing.End * MicrosPerTick);
                }
            }

            return new ProbeResult(firstData, firstToken, total, errors, record ? errorFrames : 0, firstError, clock.Elapsed);
        }

        private async Task<(long FirstData, long FirstToken, long End, string? Error, bool ErrorFrame)> OneAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, options.Url)
            {
                Version = HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(body) { Headers = { ContentType = Json } },
            };
            foreach (var (name, value) in options.Headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            try
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                await using var content = await response.Content.ReadAsStreamAsync();
                long firstData = 0, firstToken = 0;
                var scanner = new SseScanner();
                int read;
                while ((read = await content.ReadAsync(buffer)) > 0)
                {
                    if (options.Stream)
                    {
                        scanner.Feed(buffer.AsSpan(0, read));
                    }

                    if (firstData == 0 && (!options.Stream || scanner.SawData))
                    {
                        firstData = Stopwatch.GetTimestamp() - start;
                    }

                    if (firstToken == 0 && scanner.SawToken)
                    {
                        firstToken = Stopwatch.GetTimestamp() - start;
                    }
                }

                var end = Stopwatch.GetTimestamp() - start;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return (0, 0, 0, $"HTTP {(int)response.StatusCode}", false);
                }

                if (firstData == 0)
                {
                    return (0, 0, 0, "empty body", false);
                }

                if (options.Stream && (!scanner.SawDone || firstToken == 0))
                {
                    return (0, 0, 0, "stream without a content token or data: [DONE]", false);
                }

                return (firstData, firstToken, end, null, scanner.SawError);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                return (0, 0, 0, e.GetType().Name + ": " + e.Message, false);
            }
        }
    }

    /// <summary>
    /// Splits an OpenAI SSE stream into lines as bytes arrive and notes the first <c>data:</c> line, the first
    /// <c>data:</c> line whose <c>choices[0].delta.content</c> is not empty (the first token) and <c>data: [DONE]</c>.
    /// </summary>
    internal sealed class SseScanner
    {
        private readonly List<byte> _line = new(4096);

        public bool SawData { get; private set; }

        public bool SawToken { get; private set; }

        public bool SawDone { get; private set; }

        /// <summary>True when a <c>data: {"error":...}</c> frame arrived: the stream was cut short (ARCHITECTURE.md).</summary>
        public bool SawError { get; private set; }

        public void Feed(ReadOnlySpan<byte> chunk)
        {
            foreach (var b in chunk)
            {
                if (b == (byte)'\n')
                {
                    OnLine(CollectionsMarshal.AsSpan(_line));
                    _line.Clear();
                }
                else
                {
                    _line.Add(b);
                }
            }
        }

        private void OnLine(ReadOnlySpan<byte> line)
        {
            if (!line.StartsWith("data:"u8))
            {
                return;
            }

            SawData = true;
            var payload = line[5..].Trim(" \r"u8);
            if (payload.SequenceEqual("[DONE]"u8))
            {
                SawDone = true;
                return;
            }

            if (payload.StartsWith("{\"error\""u8))
            {
                SawError = true;
                return;
            }

            if (!SawToken && HasContent(payload))
            {
                SawToken = true;
            }
        }

        private static bool HasContent(ReadOnlySpan<byte> json)
        {
            try
            {
                var reader = new Utf8JsonReader(json);
                using var document = JsonDocument.ParseValue(ref reader);
                return document.RootElement.TryGetProperty("choices", out var choices)
                    && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("delta", out var delta)
                    && delta.TryGetProperty("content", out var content)
                    && content.ValueKind == JsonValueKind.String && content.GetString()!.Length > 0;
            }
            catch (JsonException)
            {
                return false;
            }
        }
    }

    /// <summary>Percentiles (nearest rank) and means of microsecond samples.</summary>
    internal static class Stats
    {
        public static double? Percentile(List<double> samples, double p)
        {
            if (samples.Count == 0)
            {
                return null;
            }

            var sorted = samples.ToArray();
            Array.Sort(sorted);
            var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
            return Math.Round(sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)], 1);
        }

        public static double? Mean(List<double> samples) => samples.Count == 0 ? null : Math.Round(samples.Average(), 1);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;

// Scan throughput on ONE generated corpus, side by side in one run:
//   1. the watcher's scanner in-process (DirectorySource: read + prefilter + CRC check),
//   2. the watcher's CLI as a process (`scan directory <corpus> --report-only --json`, start-up included),
//   3. secretlint 9 with a pattern rule for our key regex (bench-local install, see secretlint/package-lock.json),
//   4. git-secrets --scan -r with the same regex registered in the corpus repository.
// Wall time AND CPU time (user+sys, children included) are recorded: on a shared, loaded machine CPU time is the
// steadier measure of the work each tool does; wall time is what a user waits for.
// Usage: dotnet run -c Release --project bench/LlmSecOps.KeyLeakWatcher.Bench -- [--mb 128] [--runs 5] [--corpus DIR]
var megabytes = Option("--mb", 128);
var runs = Option("--runs", 5);
var corpus = OptionText("--corpus") ?? Path.Combine(Path.GetTempPath(), $"llmsecops-klw-corpus-{megabytes}mb");
var repoRoot = FindRepoRoot();
var secretlintDir = Path.Combine(repoRoot, "bench", "LlmSecOps.KeyLeakWatcher.Bench", "secretlint");

var (bytes, plantedValid, plantedLookAlike) = Corpus.Ensure(corpus, megabytes);
var mb = bytes / 1_000_000.0;
Console.WriteLine($"corpus: {corpus}  {mb:F1} MB in {Directory.GetFiles(corpus, "*", SearchOption.AllDirectories).Count(f => !f.Contains("/.git/", StringComparison.Ordinal))} files; planted {plantedValid} valid keys and {plantedLookAlike} bad-checksum look-alikes");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; each tool run {runs} times, alternating; median wall time reported");
Console.WriteLine();

var tools = new List<Tool>
{
    new("llmsecops watcher (in-process)", dir => InProcess(dir)),
    new("llmsecops watcher (CLI process)", dir => Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "LlmSecOps.KeyLeakWatcher.dll"), "scan", "directory", dir, "--report-only", "--json"], dir, CountJsonFindings)),
    new("secretlint 9 (pattern rule)", dir => Run("node", [Path.Combine(secretlintDir, "node_modules", ".bin", "secretlint"), "**/*", "--secretlintrc", Path.Combine(secretlintDir, ".secretlintrc.json"), "--maskSecrets", "--no-color"], dir, CountSecretlint)),
    new("git-secrets --scan -r", dir => Run("git", ["secrets", "--scan", "-r", "."], dir, CountGitSecrets)),
};

// Fixed start-up cost of each tool (an empty corpus, same set-up), so the marginal scan rate can be shown too.
var empty = Corpus.Empty(corpus + "-empty");
var startup = new Dictionary<string, double>();
foreach (var tool in tools)
{
    startup[tool.Name] = Median([.. Enumerable.Range(0, 3).Select(_ => tool.Measure(empty).CpuSeconds)]);
}

var times = tools.ToDictionary(t => t.Name, _ => new List<double>());
var cpus = tools.ToDictionary(t => t.Name, _ => new List<double>());
var found = new Dictionary<string, int>();
for (var run = 0; run < runs; run++)
{
    foreach (var tool in run % 2 == 0 ? tools : Enumerable.Reverse(tools))
    {
        var clock = Stopwatch.StartNew();
        var (matches, cpu) = tool.Measure(corpus);
        times[tool.Name].Add(clock.Elapsed.TotalSeconds);
        cpus[tool.Name].Add(cpu);
        found[tool.Name] = matches;
    }
}

const string Baseline = "secretlint 9 (pattern rule)";
var wallBase = Median(times[Baseline]);
var cpuBase = Median(cpus[Baseline]);
var marginalBase = cpuBase - startup[Baseline];
Console.WriteLine("| tool | median wall s | MB/s (wall) | x secretlint (wall) | median CPU s | MB/s per CPU-s | x secretlint (CPU) | start-up CPU s | MB/s per CPU-s after start-up | x secretlint (after start-up) | matches reported |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var tool in tools)
{
    var seconds = Median(times[tool.Name]);
    var cpu = Median(cpus[tool.Name]);
    var marginal = Math.Max(cpu - startup[tool.Name], 1e-3);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {tool.Name} | {seconds:F3} | {mb / seconds:F1} | {wallBase / seconds:F1} | {cpu:F3} | {mb / cpu:F1} | {cpuBase / cpu:F1} | {startup[tool.Name]:F3} | {mb / marginal:F1} | {marginalBase / marginal:F1} | {found[tool.Name]} |"));
}

Console.WriteLine();
Console.WriteLine("all runs, wall s: " + string.Join("; ", tools.Select(t => $"{t.Name}: {string.Join(", ", times[t.Name].Select(s => s.ToString("F3", CultureInfo.InvariantCulture)))}")));
Console.WriteLine("all runs, CPU s: " + string.Join("; ", tools.Select(t => $"{t.Name}: {string.Join(", ", cpus[t.Name].Select(s => s.ToString("F3", CultureInfo.InvariantCulture)))}")));
return 0;

static (int, double) InProcess(string corpus)
{
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var session = new ScanSession();
    new DirectorySource(corpus).ScanAsync(session, null, CancellationToken.None).GetAwaiter().GetResult();
    return (session.Findings.Count, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
}

// Runs the tool under bash and reads its CPU time from bash's `times` (user and sys of the shell's children).
static (int, double) Run(string file, string[] arguments, string workingDirectory, Func<string, int> count)
{
    var info = new ProcessStartInfo("bash") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    info.ArgumentList.Add("-c");
    info.ArgumentList.Add("\"$@\"; times >&2");
    info.ArgumentList.Add("bash");
    info.ArgumentList.Add(file);
    foreach (var argument in arguments)
    {
        info.ArgumentList.Add(argument);
    }

    using var process = Process.Start(info)!;
    var stderr = process.StandardError.ReadToEndAsync();
    var stdout = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    var errors = stderr.Result.TrimEnd().Split('\n');
    var children = errors[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return (count(stdout + stderr.Result), BashSeconds(children[0]) + BashSeconds(children[1]));
}

// bash `times` prints e.g. 0m1.234s
static double BashSeconds(string text)
{
    var m = text.IndexOf('m', StringComparison.Ordinal);
    return (double.Parse(text[..m], CultureInfo.InvariantCulture) * 60) + double.Parse(text[(m + 1)..^1], CultureInfo.InvariantCulture);
}

static int CountJsonFindings(string output) => CountOccurrences(output, "\"tokenHash\"");

static int CountSecretlint(string output) => CountOccurrences(output, "found matching");

// git-secrets prints each matching line as path:line:text.
static int CountGitSecrets(string output) => output.Split('\n').Count(l => l.Contains("lso_", StringComparison.Ordinal) && l.StartsWith("./", StringComparison.Ordinal));

static int CountOccurrences(string text, string what)
{
    var n = 0;
    for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
    {
        n++;
    }

    return n;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}

int Option(string name, int fallback) => OptionText(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

string? OptionText(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

static string FindRepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "LlmSecOps.sln")))
        {
            return dir.FullName;
        }
    }

    throw new InvalidOperationException("Run from inside the repository (LlmSecOps.sln not found above the binary).");
}

internal sealed record Tool(string Name, Func<string, (int Matches, double CpuSeconds)> Measure);

/// <summary>
/// A deterministic corpus that looks like a monorepo: source files of 40-120 char lines (JS, Python, YAML, JSON,
/// logs), a few minified single-line bundles, valid keys and bad-checksum look-alikes sprinkled in, and many
/// <c>lso_</c> near-misses (words such as <c>also_</c>) so the prefilter has work to do.
/// </summary>
internal static class Corpus
{
    private static readonly string[] Words = ["const", "return", "value", "config", "model", "request", "also_", "tokens", "user", "if", "else", "await", "client", "response", "error", "lso_x", "data", "=", "{", "}", "(", ")", ":", ";", "0", "42", "\"llama3\"", "url", "http://gateway:8080/v1", "# comment"];

    public static (long Bytes, int Valid, int LookAlike) Ensure(string folder, int megabytes)
    {
        var marker = Path.Combine(folder, ".corpus-info");
        if (File.Exists(marker))
        {
            var parts = File.ReadAllText(marker).Split(' ');
            return (long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
        }

        Directory.CreateDirectory(folder);
        var random = new Random(20261122);
        long total = 0;
        int valid = 0, lookAlike = 0, file = 0;
        var target = megabytes * 1_000_000L;
        while (total < target)
        {
            var minified = file % 50 == 49;
            var extension = minified ? "min.js" : new[] { "js", "py", "yaml", "json", "log", "md" }[file % 6];
            var path = Path.Combine(folder, $"pkg{file % 23}", $"module{file % 7}", $"file{file}.{extension}");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var size = minified ? 1_500_000 : random.Next(20_000, 400_000);
            var text = new StringBuilder(size + 200);
            while (text.Length < size)
            {
                var line = random.Next(40, 120);
                var start = text.Length;
                while (text.Length - start < line)
                {
                    text.Append(Words[random.Next(Words.Length)]).Append(' ');
                }

                var roll = random.Next(20_000);
                if (roll == 0)
                {
                    text.Append("apiKey: \"").Append(ApiKey.Create()).Append('"');
                    valid++;
                }
                else if (roll == 1)
                {
                    var key = ApiKey.Create();
                    text.Append("example: \"").Append(key[..^1]).Append(key[^1] == 'A' ? 'B' : 'A').Append('"');
                    lookAlike++;
                }

                text.Append(minified ? ';' : '\n');
            }

            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            File.WriteAllBytes(path, bytes);
            total += bytes.Length;
            file++;
        }

        // git-secrets scans through git; make the corpus a repository with the pattern registered locally.
        Git(folder, "init", "-q");
        Git(folder, "secrets", "--add", @"lso_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}");
        File.WriteAllText(marker, string.Create(CultureInfo.InvariantCulture, $"{total} {valid} {lookAlike}"));
        return (total, valid, lookAlike);
    }

    /// <summary>An empty corpus with the same set-up (git repository with the pattern registered).</summary>
    public static string Empty(string folder)
    {
        if (!Directory.Exists(Path.Combine(folder, ".git")))
        {
            Directory.CreateDirectory(folder);
            Git(folder, "init", "-q");
            Git(folder, "secrets", "--add", @"lso_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}");
        }

        return folder;
    }

    private static void Git(string folder, params string[] arguments)
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = folder, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', arguments)} failed; is git-secrets installed (apt-get install -y git-secrets)?");
        }
    }
}

using System.Diagnostics;
using System.Text;

namespace LlmSecOps.Simulator.Tests.NpmClients;

/// <summary>
/// Runs the official <c>openai</c> (6.x) and <c>ollama</c> npm clients (tests/npm-clients, Node's built-in test
/// runner) against a simulator: the fidelity check that matters, since real applications use these clients.
/// </summary>
public sealed class NpmClientTests
{
    [Fact]
    public async Task OfficialOpenAIAndOllamaNpmClientsPassTheirTestsAgainstTheSimulator()
    {
        var folder = FindNpmClientsFolder();
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "openai")) || !Directory.Exists(Path.Combine(folder, "node_modules", "ollama")))
        {
            Assert.Fail($"{folder}/node_modules is missing: run `npm ci --prefix tests/npm-clients` from the repository root first.");
        }

        await using var sim = await SimulatorHost.StartAsync();
        const string apiKey = "sk-npm-client-test";
        var (exitCode, output) = await RunNodeAsync(folder, new Dictionary<string, string>
        {
            ["LLM_BASE_URL"] = sim.BaseAddress.ToString().TrimEnd('/'),
            ["LLM_API_KEY"] = apiKey,
            ["LLM_EXPECT_MANAGEMENT"] = "allowed",
        });

        Assert.True(exitCode == 0, $"node --test failed (exit code {exitCode}):\n{output}");
        Assert.Contains("# fail 0", output, StringComparison.Ordinal);
        // Both clients really talked to this simulator, with the key from LLM_API_KEY.
        var requests = sim.State.Requests.Snapshot();
        Assert.Contains(requests, r => r.Header("User-Agent")?.StartsWith("ollama-js/", StringComparison.Ordinal) == true && r.Path == "/api/chat");
        Assert.Contains(requests, r => r.Header("User-Agent")?.StartsWith("OpenAI/JS", StringComparison.Ordinal) == true && r.Path == "/v1/chat/completions");
        Assert.Contains(requests, r => r.Method == "POST" && r.Path == "/api/pull");
        Assert.Contains(requests, r => r.Method == "DELETE" && r.Path == "/api/delete");
        Assert.All(requests, r => Assert.Equal("Bearer " + apiKey, r.Header("Authorization")));
    }

    private static async Task<(int ExitCode, string Output)> RunNodeAsync(string folder, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--test");
        start.ArgumentList.Add("--test-reporter=tap");
        start.ArgumentList.Add("test/");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.Environment.Remove("OLLAMA_HOST");
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"Could not start `node` ({ex.Message}): install Node.js 20+ (e.g. `apt-get install -y nodejs npm`).");
            throw;
        }

        using (process)
        {
            var output = new StringBuilder();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                output.AppendLine("(node --test timed out after 2 minutes)");
            }

            output.Append(await stdout).Append(await stderr);
            return (process.HasExited ? process.ExitCode : -1, output.ToString());
        }
    }

    private static string FindNpmClientsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "npm-clients");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/npm-clients/package.json not found above " + AppContext.BaseDirectory);
    }
}

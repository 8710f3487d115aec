using System.Diagnostics;
using System.Text;

namespace LlmSecOps.Gateway.Tests.DataPlane;

public sealed class NpmClientTests
{
    [Fact]
    public async Task OfficialOpenAIAndOllamaNpmClientsWorkThroughTheGatewayAndManagementCallsAreRefused()
    {
        var folder = FindNpmClientsFolder();
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "openai")) && Directory.Exists(Path.Combine(folder, "node_modules", "ollama")),
            $"{folder}/node_modules is missing: run `npm ci --prefix tests/npm-clients` from the repository root first.");
        await using var f = await DataPlaneFixture.StartAsync(tier: new
        {
            allowedModels = new[] { "*" }, defaultMaxTokens = 512, maxMaxTokens = 2048, requestsPerMinute = 10000, tokensPerMinute = 10000000, concurrency = 16,
        });

        var start = new ProcessStartInfo("node") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--test");
        start.ArgumentList.Add("--test-reporter=tap");
        start.ArgumentList.Add("test/");
        start.Environment["LLM_BASE_URL"] = f.Gateway.DataUrl.TrimEnd('/');
        start.Environment["LLM_API_KEY"] = f.Key;
        start.Environment["LLM_EXPECT_MANAGEMENT"] = "refused";
        start.Environment.Remove("OLLAMA_HOST");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var output = new StringBuilder().Append(await stdout).Append(await stderr).ToString();

        Assert.True(process.ExitCode == 0, $"node --test failed (exit code {process.ExitCode}):\n{output}");
        Assert.Contains("# fail 0", output, StringComparison.Ordinal);
        var requests = f.UpstreamRequests();
        Assert.Contains(requests, r => r.Header("User-Agent")?.StartsWith("ollama-js/", StringComparison.Ordinal) == true && r.Path == "/api/chat");
        Assert.Contains(requests, r => r.Header("User-Agent")?.StartsWith("OpenAI/JS", StringComparison.Ordinal) == true && r.Path == "/v1/chat/completions");
        Assert.DoesNotContain(requests, r => r.Path is "/api/pull" or "/api/delete" or "/api/copy" or "/api/create" or "/api/push" or "/api/ps");
        Assert.All(requests, r => Assert.Null(r.Header("Authorization")));
        Assert.All(requests, r => Assert.DoesNotContain(f.Key, string.Concat(r.Headers.Select(h => h.Value)), StringComparison.Ordinal));
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

        throw new DirectoryNotFoundException("tests/npm-clients not found above " + AppContext.BaseDirectory);
    }
}

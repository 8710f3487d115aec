using System.Diagnostics;

namespace LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

/// <summary>Runs the real command-line tools fixtures are built with (git, tar, npm).</summary>
internal static class Tools
{
    public static string Run(string workingDirectory, string fileName, params string[] arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr}");
        }

        return stdout.Result;
    }

    /// <summary>Fails with the install command when a fixture tool is missing (never skips silently).</summary>
    public static void Require(params string[] tools)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':');
        var missing = tools.Where(t => !path.Any(p => File.Exists(System.IO.Path.Combine(p, t)))).ToList();
        Assert.True(missing.Count == 0, $"Fixture tools missing: {string.Join(", ", missing)}. Install them: apt-get install -y {string.Join(' ', missing)}");
    }

    public static string Git(string repo, params string[] arguments) =>
        Run(repo, "git", ["-c", "user.name=Test Author", "-c", "user.email=author@example.test", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", .. arguments]).Trim();
}

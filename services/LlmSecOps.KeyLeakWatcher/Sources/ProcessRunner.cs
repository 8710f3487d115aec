using System.Diagnostics;
using System.Text;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>Runs the external tools the sources use (git, npm) with arguments passed as a list (no shell).</summary>
internal static class ProcessRunner
{
    /// <summary>Runs to completion and returns stdout; throws with stderr when the exit code is not zero.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, string? workingDirectory, CancellationToken cancellationToken)
    {
        using var process = Start(fileName, arguments, workingDirectory, redirectInput: false);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var output = await stdout;
        var error = await stderr;
        if (process.ExitCode != 0)
        {
            throw new ExternalToolException($"{fileName} {string.Join(' ', process.StartInfo.ArgumentList)} exited with {process.ExitCode}: {error.Trim()}");
        }

        return output;
    }

    /// <summary>Starts a process with redirected stdout/stderr (and stdin when asked).</summary>
    public static Process Start(string fileName, IEnumerable<string> arguments, string? workingDirectory, bool redirectInput)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Never prompt for credentials or open an editor/pager from a background scan.
        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        info.Environment["GIT_PAGER"] = "cat";
        try
        {
            return Process.Start(info) ?? throw new ExternalToolException($"Could not start {fileName}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new ExternalToolException($"Could not start '{fileName}': {ex.Message}. Install it (e.g. apt-get install -y {fileName}).", ex);
        }
    }
}

/// <summary>An external tool failed or is missing.</summary>
public sealed class ExternalToolException : Exception
{
    public ExternalToolException(string message)
        : base(message)
    {
    }

    public ExternalToolException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public ExternalToolException()
    {
    }
}

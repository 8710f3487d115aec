namespace LlmSecOps.Cli;

/// <summary>A failure the CLI reports with a message and a fixed exit code (see <see cref="ExitCodes"/>).</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    /// <summary>The process exit code this failure maps to.</summary>
    public int ExitCode { get; } = exitCode;

    /// <summary>A usage error (exit code 2).</summary>
    public static CliException Usage(string message) => new(ExitCodes.UsageError, message);
}

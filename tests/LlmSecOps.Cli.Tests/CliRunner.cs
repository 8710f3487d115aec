namespace LlmSecOps.Cli.Tests;

/// <summary>The outcome of one in-process CLI run.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Everything the CLI printed.</summary>
    public string All => Stdout + Stderr;

    /// <inheritdoc />
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the CLI's real entry point in-process with captured output and a controlled environment.</summary>
public static class CliRunner
{
    /// <summary>Runs <c>llmsecops args...</c>.</summary>
    public static async Task<CliResult> RunWithAsync(IReadOnlyDictionary<string, string>? environment, string? stdin, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin ?? "");
        var host = CliHost.ForWriters(stdout, stderr, environment, input);
        var code = await CliApp.RunAsync(args, host);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs with an empty environment.</summary>
    public static Task<CliResult> RunAsync(params string[] args) => RunWithAsync(null, null, args);

    /// <summary>A loopback URL nothing listens on (a port bound and released a moment ago).</summary>
    public static string ClosedLoopbackUrl()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }
}

namespace LlmSecOps.Cli;

/// <summary>
/// The CLI's exit codes (documented in docs/cli.md). Scripts rely on them, so they never change meaning.
/// </summary>
public static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Ok = 0;

    /// <summary>The admin API refused the request (validation problem, not found, conflict, server error).</summary>
    public const int ApiError = 1;

    /// <summary>The command line was wrong (unknown command or option, bad value, missing token, unsafe URL).</summary>
    public const int UsageError = 2;

    /// <summary>The admin API could not be reached (connection refused, DNS, TLS, timeout).</summary>
    public const int ConnectionFailure = 3;

    /// <summary>The admin API rejected the token (401) or its role may not use the route (403).</summary>
    public const int AuthFailure = 4;

    /// <summary><c>audit verify</c>: the API answered and reports the audit chain broken.</summary>
    public const int AuditChainBroken = 5;

    /// <summary>Interrupted with Ctrl+C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}

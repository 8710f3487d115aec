using System.CommandLine;

namespace LlmSecOps.Cli;

/// <summary>Options every command accepts (declared once on the root command, recursive).</summary>
public sealed class GlobalOptions
{
    /// <summary><c>--url</c>: the admin API's base URL.</summary>
    public Option<string?> Url { get; } = new("--url")
    {
        Description = "Admin API base URL [env: LLMSECOPS_ADMIN_URL; default: http://127.0.0.1:8081]",
        Recursive = true,
    };

    /// <summary><c>--token</c>: the admin bearer token.</summary>
    public Option<string?> Token { get; } = new("--token")
    {
        Description = "Admin bearer token [env: LLMSECOPS_ADMIN_TOKEN, preferred: the option is visible in the process list]",
        Recursive = true,
    };

    /// <summary><c>--json</c>: print the API's JSON instead of tables.</summary>
    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the API's JSON answer instead of tables (errors: the problem document on stderr)",
        Recursive = true,
    };

    /// <summary><c>--insecure</c>: allow plain http to a non-loopback host.</summary>
    public Option<bool> Insecure { get; } = new("--insecure")
    {
        Description = "Allow sending the token over plain http to a host that is not loopback (it can be read on the wire)",
        Recursive = true,
    };

    /// <summary><c>--timeout</c>: seconds to wait for the API.</summary>
    public Option<int> Timeout { get; } = new("--timeout")
    {
        Description = "Seconds to wait for the admin API",
        Recursive = true,
        DefaultValueFactory = _ => 30,
    };

    /// <summary>Creates the options and their validation.</summary>
    public GlobalOptions()
    {
        Timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 3600)
            {
                result.AddError("--timeout must be between 1 and 3600 seconds.");
            }
        });
    }

    /// <summary>Adds the options to the root command.</summary>
    public void AddTo(Command root)
    {
        root.Options.Add(Url);
        root.Options.Add(Token);
        root.Options.Add(Json);
        root.Options.Add(Insecure);
        root.Options.Add(Timeout);
    }
}

using System.CommandLine;
using System.CommandLine.Invocation;
using LlmSecOps.Cli.Commands;

namespace LlmSecOps.Cli;

/// <summary>The <c>llmsecops</c> command tree and its entry point (used by Program.cs and, in-process, by tests).</summary>
public static class CliApp
{
    /// <summary>Builds the root command.</summary>
    public static RootCommand Build(CliHost host)
    {
        var global = new GlobalOptions();
        var root = new RootCommand("llmsecops: operate an LlmSecOps gateway through its admin API (port 8081).");
        global.AddTo(root);
        root.Subcommands.Add(TenantCommands.Create(host, global));
        root.Subcommands.Add(KeyCommands.Create(host, global));
        root.Subcommands.Add(IncidentCommands.Create(host, global));
        root.Subcommands.Add(UsageCommand.Create(host, global));
        root.Subcommands.Add(AuditCommands.Create(host, global));
        root.Subcommands.Add(TierCommands.Create(host, global));
        root.Subcommands.Add(ModelCommands.Create(host, global));
        root.Subcommands.Add(TokenCommands.Create(host, global));
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> RunAsync(string[] args, CliHost host, CancellationToken cancellationToken = default)
    {
        var parse = Build(host).Parse(args);
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
        {
            // System.CommandLine answers parse errors with 1; ours is 2 so scripts can tell "I typed it wrong" from
            // "the API said no".
            foreach (var error in parse.Errors)
            {
                host.ErrorWriter.WriteLine("error: " + error.Message);
            }

            host.ErrorWriter.WriteLine($"Run '{CommandPath(parse)} --help' for usage.");
            return ExitCodes.UsageError;
        }

        var configuration = new InvocationConfiguration { Output = host.OutWriter, Error = host.ErrorWriter };
        return await parse.InvokeAsync(configuration, cancellationToken);
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Add(result.Command is RootCommand ? "llmsecops" : result.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}

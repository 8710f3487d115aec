using System.CommandLine;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops usage</c>: settled usage for a period.</summary>
public static class UsageCommand
{
    /// <summary>Builds the <c>usage</c> command.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var tenant = new Option<string?>("--tenant") { Description = "Tenant id" };
        var key = new Option<string?>("--key") { Description = "Key id" };
        var from = new Option<string?>("--from") { Description = "Start (inclusive): ISO 8601 date or timestamp, UTC unless an offset is given" };
        var to = new Option<string?>("--to") { Description = "End (exclusive): ISO 8601 date or timestamp" };
        var command = new Command("usage", "Tokens, requests and refusals by reason for a tenant or key over a period (auditor).") { tenant, key, from, to };
        command.SetApiAction(host, global, async c =>
        {
            var query = Query(
                ("tenantId", c.Parse.GetValue(tenant)),
                ("keyId", c.Parse.GetValue(key)),
                ("from", c.Parse.GetValue(from) is { } f ? CommandArgs.Instant(f, "--from") : null),
                ("to", c.Parse.GetValue(to) is { } t ? CommandArgs.Instant(t, "--to") : null));
            c.Output.Object(await c.GetAsync("admin/usage" + query), "Usage");
            return ExitCodes.Ok;
        });
        return command;
    }
}

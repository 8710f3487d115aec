using System.CommandLine;
using System.Text.Json.Nodes;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops tokens ...</c>: admin and service bearer tokens (admin only).</summary>
public static class TokenCommands
{
    /// <summary>Builds the <c>tokens</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var tokens = new Command("tokens", "Admin-API bearer tokens for people (admin, operator, auditor) and services (scorer, watcher).");

        var role = new Option<string>("--role") { Description = "admin, operator, auditor or service", Required = true };
        role.AcceptOnlyFromAmong("admin", "operator", "auditor", "service");
        var name = new Option<string>("--name") { Description = "Who or what uses the token", Required = true };
        var issue = new Command("issue", "Issue a token; it is printed once and only its hash is kept (admin).") { role, name };
        issue.SetApiAction(host, global, async c =>
        {
            var answer = await c.PostAsync("admin/tokens", new JsonObject { ["role"] = c.Parse.GetValue(role), ["name"] = c.Parse.GetValue(name) });
            c.Output.ObjectWithSecret(answer, "Token issued", "token", "Admin API token", "id", "role", "name");
            return ExitCodes.Ok;
        });

        var list = new Command("list", "List tokens (never the tokens themselves; admin).");
        list.SetApiAction(host, global, async c =>
        {
            c.Output.List(await c.GetAsync("admin/tokens"), "No tokens issued (only the bootstrap token exists).", "id", "name", "role", "createdAt", "createdBy", "revokedAt");
            return ExitCodes.Ok;
        });

        var id = CommandArgs.Id("tokenId", "The token's id (tok_...)");
        var revoke = new Command("revoke", "Revoke a token (admin).") { id };
        revoke.SetApiAction(host, global, async c =>
        {
            var answer = await c.DeleteAsync($"admin/tokens/{Segment(c.Parse.GetValue(id)!)}");
            if (c.Output.IsJson)
            {
                c.Output.Json(answer);
            }
            else
            {
                c.Output.Notice($"Token {c.Parse.GetValue(id)} revoked.");
            }

            return ExitCodes.Ok;
        });

        tokens.Subcommands.Add(issue);
        tokens.Subcommands.Add(list);
        tokens.Subcommands.Add(revoke);
        return tokens;
    }
}

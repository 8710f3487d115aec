using System.CommandLine;
using System.Text.Json.Nodes;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops models ...</c>: approved models pinned to digests.</summary>
public static class ModelCommands
{
    private static readonly string[] ModelFields = ["name", "digest", "approvedBy", "approvedAt"];

    /// <summary>Builds the <c>models</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var models = new Command("models", "Approved models: only these names, at these exact digests, are served.");

        var list = new Command("list", "List approved models (auditor).");
        list.SetApiAction(host, global, async c =>
        {
            c.Output.List(await c.GetAsync("admin/models"), "No approved models: the gateway serves none.", ModelFields);
            return ExitCodes.Ok;
        });

        var name = new Argument<string>("name") { Description = "Model name:tag (':latest' implied), e.g. llama3.2:3b" };
        var digest = new Option<string>("--digest") { Description = "The pinned digest, sha256:<64 hex> (from the upstream's /api/tags)", Required = true };
        var approve = new Command("approve", "Approve a model pinned to a digest (operator).") { name, digest };
        approve.SetApiAction(host, global, async c =>
        {
            var model = await c.PutAsync(ModelPath(c.Parse.GetValue(name)!), new JsonObject { ["digest"] = c.Parse.GetValue(digest) });
            c.Output.Object(model, "Model approved", ModelFields);
            return ExitCodes.Ok;
        });

        var withdrawName = new Argument<string>("name") { Description = "Model name:tag" };
        var withdraw = new Command("withdraw", "Withdraw a model's approval: the gateway stops serving it (operator).") { withdrawName };
        withdraw.SetApiAction(host, global, async c =>
        {
            var answer = await c.DeleteAsync(ModelPath(c.Parse.GetValue(withdrawName)!));
            if (answer is null)
            {
                c.Output.Notice($"Model '{c.Parse.GetValue(withdrawName)}' withdrawn.");
            }
            else
            {
                c.Output.Object(answer, "Model withdrawn", ModelFields);
            }

            return ExitCodes.Ok;
        });

        models.Subcommands.Add(list);
        models.Subcommands.Add(approve);
        models.Subcommands.Add(withdraw);
        return models;
    }

    /// <summary>
    /// The route of a model. Names may contain '/' (<c>library/llama3:8b</c>) and the route is a catch-all, so each
    /// '/'-separated part is escaped on its own: an escaped <c>%2F</c> is not decoded by Kestrel and would not match.
    /// </summary>
    public static string ModelPath(string name) =>
        "admin/models/" + string.Join('/', name.Split('/').Select(Uri.EscapeDataString));
}

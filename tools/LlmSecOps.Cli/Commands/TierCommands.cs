using System.CommandLine;
using System.Text.Json.Nodes;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops tiers ...</c>: list, show, set.</summary>
public static class TierCommands
{
    private static readonly string[] TierFields = ["name", "allowedModels", "defaultMaxTokens", "maxMaxTokens", "maxTokensOverCap", "requestsPerMinute", "tokensPerMinute", "concurrency", "parameters", "updatedAt"];

    /// <summary>Builds the <c>tiers</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var tiers = new Command("tiers", "Tiers: allowed models, max_tokens defaults and caps, rate and token limits, concurrency.");
        tiers.Subcommands.Add(List(host, global));
        tiers.Subcommands.Add(Get(host, global));
        tiers.Subcommands.Add(Set(host, global));
        return tiers;
    }

    private static Command List(CliHost host, GlobalOptions global)
    {
        var command = new Command("list", "List tiers (auditor).");
        command.SetApiAction(host, global, async c =>
        {
            c.Output.List(await c.GetAsync("admin/tiers"), "No tiers.", TierFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(CliHost host, GlobalOptions global)
    {
        var name = new Argument<string>("name") { Description = "Tier name" };
        var command = new Command("get", "Show a tier (auditor).") { name };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.GetAsync($"admin/tiers/{Segment(c.Parse.GetValue(name)!)}"), "Tier", TierFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Set(CliHost host, GlobalOptions global)
    {
        var name = new Argument<string>("name") { Description = "Tier name (created if new, replaced otherwise)" };
        var models = new Option<string>("--models") { Description = "Comma-separated allowed models, or * for every approved model", Required = true };
        var defaultMax = new Option<int>("--default-max-tokens") { Description = "max_tokens injected when a request has none", Required = true };
        var maxMax = new Option<int>("--max-tokens") { Description = "Largest max_tokens a request may ask for", Required = true };
        var rpm = new Option<int>("--rpm") { Description = "Requests per minute per key", Required = true };
        var tpm = new Option<int>("--tpm") { Description = "Tokens per minute per key", Required = true };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight per tenant", Required = true };
        var overCap = new Option<string?>("--over-cap") { Description = "A max_tokens above the cap: clamp (default) or reject (400)" };
        var parameters = new Option<string[]>("--param")
        {
            Description = "A parameter bound, NAME=VALUE (repeatable), e.g. maxN=2, allowRaw=true, maxKeepAliveSeconds=600; left out = default",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("set", "Create or replace a tier; every limit is required, parameter bounds left out take their defaults (operator).")
        {
            name, models, defaultMax, maxMax, rpm, tpm, concurrency, overCap, parameters,
        };
        command.SetApiAction(host, global, async c =>
        {
            var body = new JsonObject
            {
                ["allowedModels"] = CommandArgs.List(c.Parse.GetValue(models)!),
                ["defaultMaxTokens"] = c.Parse.GetValue(defaultMax),
                ["maxMaxTokens"] = c.Parse.GetValue(maxMax),
                ["requestsPerMinute"] = c.Parse.GetValue(rpm),
                ["tokensPerMinute"] = c.Parse.GetValue(tpm),
                ["concurrency"] = c.Parse.GetValue(concurrency),
                ["maxTokensOverCap"] = c.Parse.GetValue(overCap),
                ["parameters"] = Parameters(c.Parse.GetValue(parameters) ?? []),
            };
            c.Output.Object(await c.PutAsync($"admin/tiers/{Segment(c.Parse.GetValue(name)!)}", body), "Tier saved", TierFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>--param maxN=2 --param allowRaw=true</c> -> <c>{"maxN":2,"allowRaw":true}</c>; the server validates names and ranges.</summary>
    private static JsonObject? Parameters(string[] values)
    {
        if (values.Length == 0)
        {
            return null;
        }

        var result = new JsonObject();
        foreach (var value in values)
        {
            var equals = value.IndexOf('=', StringComparison.Ordinal);
            var key = equals > 0 ? value[..equals].Trim() : "";
            var text = equals > 0 ? value[(equals + 1)..].Trim() : "";
            result[key.Length > 0 ? key : throw CliException.Usage($"--param must be NAME=VALUE (e.g. maxN=2), not '{value}'.")] = text switch
            {
                "true" => true,
                "false" => false,
                _ when long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number) => number,
                _ => throw CliException.Usage($"--param {key} must be true, false or a whole number, not '{text}'."),
            };
        }

        return result;
    }
}

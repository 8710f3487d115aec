using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmSecOps.Contracts.Keys;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops keys ...</c>: issue, list, get, revoke, rotate, reinstate, budget, look-up.</summary>
public static class KeyCommands
{
    /// <summary>Fields shown first when a key is printed. The secret (<c>key</c>) is never among them.</summary>
    public static readonly string[] KeyFields = ["id", "tenantId", "name", "env", "scopes", "status", "createdAt", "createdBy", "expiresAt", "rotatedFrom", "rotatedTo", "revocation", "budget"];

    /// <summary>Builds the <c>keys</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var keys = new Command("keys", "API keys: issue, list, revoke, rotate, reinstate.");
        keys.Subcommands.Add(Issue(host, global));
        keys.Subcommands.Add(List(host, global));
        keys.Subcommands.Add(Get(host, global));
        keys.Subcommands.Add(Revoke(host, global));
        keys.Subcommands.Add(Rotate(host, global));
        keys.Subcommands.Add(Reinstate(host, global));
        keys.Subcommands.Add(Budget(host, global));
        keys.Subcommands.Add(Lookup(host, global));
        return keys;
    }

    private static Command Issue(CliHost host, GlobalOptions global)
    {
        var tenant = CommandArgs.Id("tenantId", "The tenant the key belongs to");
        var name = new Option<string?>("--name") { Description = "A label for the key (e.g. the application using it)" };
        var env = new Option<string?>("--env") { Description = "live (default) or test" };
        env.AcceptOnlyFromAmong("live", "test");
        var scopes = new Option<string?>("--scopes") { Description = $"Comma-separated scopes (default: all of {string.Join(",", KeyScopes.All)})" };
        var expires = new Option<string?>("--expires") { Description = "Expiry: a duration from now (90m, 12h, 30d) or an ISO 8601 timestamp" };
        var command = new Command("issue", "Issue a key; its secret is printed once and never again (operator).") { tenant, name, env, scopes, expires };
        command.SetApiAction(host, global, async c =>
        {
            var body = new JsonObject();
            if (c.Parse.GetValue(name) is { } n)
            {
                body["name"] = n;
            }

            if (c.Parse.GetValue(env) is { } e)
            {
                body["env"] = e;
            }

            if (c.Parse.GetValue(scopes) is { } s)
            {
                body["scopes"] = CommandArgs.List(s);
            }

            if (c.Parse.GetValue(expires) is { } x)
            {
                body["expiresAt"] = CommandArgs.Expiry(x, c.Host.Clock.GetUtcNow(), "--expires");
            }

            var key = await c.PostAsync($"admin/tenants/{Segment(c.Parse.GetValue(tenant)!)}/keys", body);
            c.Output.ObjectWithSecret(key, "Key issued", "key", "API key", KeyFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliHost host, GlobalOptions global)
    {
        var tenant = CommandArgs.Id("tenantId", "The tenant's id");
        var command = new Command("list", "List a tenant's keys (metadata only, never secrets; auditor).") { tenant };
        command.SetApiAction(host, global, async c =>
        {
            var keys = await c.GetAsync($"admin/tenants/{Segment(c.Parse.GetValue(tenant)!)}/keys");
            c.Output.List(keys, "The tenant has no keys.", "id", "name", "env", "scopes", "status", "createdAt", "expiresAt", "rotatedTo");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("keyId", "The key's public id (12 characters)");
        var command = new Command("get", "Show a key's metadata (auditor).") { id };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.GetAsync($"admin/keys/{Segment(c.Parse.GetValue(id)!)}"), "Key", KeyFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Revoke(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("keyId", "The key's public id");
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var source = new Option<string?>("--source") { Description = "anomaly, leak, model-digest or manual: also opens an incident and notifies the owner" };
        source.AcceptOnlyFromAmong("anomaly", "leak", "model-digest", "manual");
        var evidence = new Option<string?>("--evidence") { Description = "Evidence: JSON, or text (sent as a JSON string)" };
        var command = new Command("revoke", "Revoke a key everywhere at once; repeating it is harmless (operator).") { id, reason, source, evidence };
        command.SetApiAction(host, global, async c =>
        {
            var body = new JsonObject { ["reason"] = c.Parse.GetValue(reason) };
            if (c.Parse.GetValue(source) is { } s)
            {
                body["source"] = s;
            }

            if (c.Parse.GetValue(evidence) is { } e)
            {
                body["evidence"] = ParseEvidence(e);
            }

            var key = await c.PostAsync($"admin/keys/{Segment(c.Parse.GetValue(id)!)}/revoke", body);
            c.Output.Object(key, "Key revoked", ["id", "status", "revocation", "incidentId", .. KeyFields]);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Rotate(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("keyId", "The key to replace");
        var grace = new Option<int>("--grace")
        {
            Description = "Seconds the old key keeps working so clients can switch (0 = it stops at once)",
            Required = true,
        };
        grace.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError("--grace must be zero or more seconds.");
            }
        });
        var command = new Command("rotate", "Issue a replacement key; the old one works until the grace period ends (operator).") { id, grace };
        command.SetApiAction(host, global, async c =>
        {
            var key = await c.PostAsync($"admin/keys/{Segment(c.Parse.GetValue(id)!)}/rotate", new JsonObject { ["graceSeconds"] = c.Parse.GetValue(grace) });
            c.Output.ObjectWithSecret(key, "Replacement key issued", "key", "API key", KeyFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Reinstate(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("keyId", "The revoked key's public id");
        var command = new Command("reinstate", "Reinstate a revoked key (admin).") { id };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.PostAsync($"admin/keys/{Segment(c.Parse.GetValue(id)!)}/reinstate"), "Key reinstated", KeyFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Budget(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("keyId", "The key's public id");
        var daily = CommandArgs.Budget("--daily", "Daily (UTC day)");
        var monthly = CommandArgs.Budget("--monthly", "Monthly (UTC month)");
        var set = new Command("set", "Set the key's token budgets; a period left out keeps its budget, 'none' removes it (operator).") { id, daily, monthly };
        set.SetApiAction(host, global, async c =>
        {
            var path = $"admin/keys/{Segment(c.Parse.GetValue(id)!)}";
            var body = await TenantCommands.BudgetBodyAsync(c, path, c.Parse.GetValue(daily), c.Parse.GetValue(monthly));
            c.Output.Object(await c.PutAsync(path + "/budget", body), "Key budget set", KeyFields);
            return ExitCodes.Ok;
        });
        var budget = new Command("budget", "A key's daily and monthly token budgets.");
        budget.Subcommands.Add(set);
        return budget;
    }

    private static Command Lookup(CliHost host, GlobalOptions global)
    {
        var hash = new Argument<string?>("tokenHash") { Description = "Lowercase hex SHA-256 of the full key", Arity = ArgumentArity.ZeroOrOne };
        var stdin = new Option<bool>("--key-stdin")
        {
            Description = "Read a full key from standard input and hash it locally; only the hash is sent (keeps the key out of shell history)",
        };
        var command = new Command("lookup", "Find a key by token hash (admin or service).") { hash, stdin };
        command.SetApiAction(host, global, async c =>
        {
            var tokenHash = c.Parse.GetValue(hash);
            if (c.Parse.GetValue(stdin))
            {
                if (tokenHash is not null)
                {
                    throw CliException.Usage("Give either a token hash or --key-stdin, not both.");
                }

                var key = (await c.Host.In.ReadToEndAsync(c.CancellationToken)).Trim();
                if (!ApiKey.IsValid(key))
                {
                    throw CliException.Usage("Standard input does not hold a well-formed LlmSecOps key (format or checksum wrong).");
                }

                tokenHash = ApiKey.TokenHash(key);
            }

            if (tokenHash is null)
            {
                throw CliException.Usage("Give a token hash, or pipe the key in with --key-stdin.");
            }

            c.Output.Object(await c.PostAsync("admin/keys/lookup", new JsonObject { ["tokenHash"] = tokenHash }), "Key");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static JsonNode? ParseEvidence(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }
}

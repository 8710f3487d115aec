using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops tenants ...</c>: create, list, read, suspend/resume, policy, budget, record erasure.</summary>
public static class TenantCommands
{
    /// <summary>Fields shown first when a tenant is printed.</summary>
    public static readonly string[] TenantFields = ["id", "name", "tier", "status", "policy", "budget", "createdAt", "updatedAt"];

    /// <summary>Builds the <c>tenants</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var tenants = new Command("tenants", "Tenants: the organisations or teams keys belong to.");
        tenants.Subcommands.Add(CreateTenant(host, global));
        tenants.Subcommands.Add(List(host, global));
        tenants.Subcommands.Add(Get(host, global));
        tenants.Subcommands.Add(Status(host, global, "suspend", "Suspend a tenant: every key of it gets 403 at once."));
        tenants.Subcommands.Add(Status(host, global, "resume", "Resume a suspended tenant."));
        tenants.Subcommands.Add(Policy(host, global));
        tenants.Subcommands.Add(Budget(host, global));
        tenants.Subcommands.Add(EraseRecords(host, global));
        return tenants;
    }

    private static Command CreateTenant(CliHost host, GlobalOptions global)
    {
        var name = new Option<string>("--name") { Description = "Display name", Required = true };
        var tier = new Option<string>("--tier") { Description = "Tier (limits and allowed models)", DefaultValueFactory = _ => "default" };
        var command = new Command("create", "Create a tenant (operator).") { name, tier };
        command.SetApiAction(host, global, async c =>
        {
            var tenant = await c.PostAsync("admin/tenants", new JsonObject { ["name"] = c.Parse.GetValue(name), ["tier"] = c.Parse.GetValue(tier) });
            c.Output.Object(tenant, "Tenant created", TenantFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliHost host, GlobalOptions global)
    {
        var command = new Command("list", "List tenants (auditor).");
        command.SetApiAction(host, global, async c =>
        {
            c.Output.List(await c.GetAsync("admin/tenants"), "No tenants.", "id", "name", "tier", "status", "createdAt");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("tenantId", "The tenant's id");
        var command = new Command("get", "Show a tenant (auditor).") { id };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.GetAsync($"admin/tenants/{Segment(c.Parse.GetValue(id)!)}"), "Tenant", TenantFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Status(CliHost host, GlobalOptions global, string verb, string description)
    {
        var id = CommandArgs.Id("tenantId", "The tenant's id");
        var command = new Command(verb, description + " (operator)") { id };
        command.SetApiAction(host, global, async c =>
        {
            var tenant = await c.PostAsync($"admin/tenants/{Segment(c.Parse.GetValue(id)!)}/{verb}");
            c.Output.Object(tenant, verb == "suspend" ? "Tenant suspended" : "Tenant resumed", TenantFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Policy(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("tenantId", "The tenant's id");
        var logging = new Option<string?>("--logging") { Description = "Request records: none, metadata or redacted" };
        logging.AcceptOnlyFromAmong("none", "metadata", "redacted");
        var retention = new Option<int?>("--retention-days") { Description = "Days request records are kept (0-3650)" };
        var guard = new Option<string?>("--guard") { Description = "Guard findings: flag or block" };
        guard.AcceptOnlyFromAmong("flag", "block");
        var webhook = new Option<string?>("--webhook") { Description = "Owner notification URL (https); '' removes it" };
        var rotate = new Option<bool>("--rotate-webhook-secret") { Description = "Issue a new webhook signing secret (shown once)" };
        var set = new Command("set", "Change a tenant's policy; options left out keep their value (operator).") { id, logging, retention, guard, webhook, rotate };
        set.SetApiAction(host, global, async c =>
        {
            var body = new JsonObject();
            AddIfSet(body, "loggingPolicy", c.Parse.GetValue(logging));
            if (c.Parse.GetValue(retention) is { } days)
            {
                body["retentionDays"] = days;
            }

            AddIfSet(body, "guardPolicy", c.Parse.GetValue(guard));
            AddIfSet(body, "webhookUrl", c.Parse.GetValue(webhook));
            if (c.Parse.GetValue(rotate))
            {
                body["rotateWebhookSecret"] = true;
            }

            var answer = await c.PutAsync($"admin/tenants/{Segment(c.Parse.GetValue(id)!)}/policy", body);
            if (c.Output.IsJson)
            {
                c.Output.Json(answer);
                return ExitCodes.Ok;
            }

            // The answer is {tenant, webhookSecret}; the secret is there (once) only when a new one was made.
            var tenant = answer is { ValueKind: JsonValueKind.Object } a && a.TryGetProperty("tenant", out var t) ? t : answer;
            c.Output.Object(tenant, "Tenant policy updated", TenantFields);
            if (answer is { ValueKind: JsonValueKind.Object } doc && doc.TryGetProperty("webhookSecret", out var secret) && secret.ValueKind == JsonValueKind.String)
            {
                c.Output.SecretOnce("Webhook signing secret", secret.GetString()!);
            }

            return ExitCodes.Ok;
        });
        var policy = new Command("policy", "A tenant's logging, retention, guard and webhook policy.");
        policy.Subcommands.Add(set);
        return policy;
    }

    private static Command Budget(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("tenantId", "The tenant's id");
        var daily = CommandArgs.Budget("--daily", "Daily (UTC day)");
        var monthly = CommandArgs.Budget("--monthly", "Monthly (UTC month)");
        var set = new Command("set", "Set the tenant's token budgets; a period left out keeps its budget, 'none' removes it (operator).") { id, daily, monthly };
        set.SetApiAction(host, global, async c =>
        {
            var path = $"admin/tenants/{Segment(c.Parse.GetValue(id)!)}";
            var body = await BudgetBodyAsync(c, path, c.Parse.GetValue(daily), c.Parse.GetValue(monthly));
            var tenant = await c.PutAsync(path + "/budget", body);
            c.Output.Object(tenant, "Tenant budget set", TenantFields);
            return ExitCodes.Ok;
        });
        var budget = new Command("budget", "A tenant's daily and monthly token budgets.");
        budget.Subcommands.Add(set);
        return budget;
    }

    private static Command EraseRecords(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("tenantId", "The tenant's id");
        var yes = new Option<bool>("--yes") { Description = "Confirm: the records cannot be recovered" };
        var command = new Command("erase-records", "Erase every request record of a tenant (GDPR erasure; admin).") { id, yes };
        command.SetApiAction(host, global, async c =>
        {
            if (!c.Parse.GetValue(yes))
            {
                throw CliException.Usage("Erasing request records cannot be undone; repeat with --yes to confirm.");
            }

            var answer = await c.DeleteAsync($"admin/tenants/{Segment(c.Parse.GetValue(id)!)}/records");
            c.Output.Object(answer, "Request records erased");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The budget body shared by tenants and keys, <c>{dailyTokens, monthlyTokens}</c> (null = no budget). The API
    /// replaces both, so a period the operator left out is read from <paramref name="resourcePath"/>'s current
    /// <c>budget</c> and sent back unchanged.
    /// </summary>
    public static async Task<JsonObject> BudgetBodyAsync(ApiContext c, string resourcePath, string? daily, string? monthly)
    {
        if (daily is null && monthly is null)
        {
            throw CliException.Usage("Give --daily, --monthly or both (a number of tokens, or 'none').");
        }

        var body = new JsonObject();
        CommandArgs.AddBudget(body, "dailyTokens", daily, "--daily");
        CommandArgs.AddBudget(body, "monthlyTokens", monthly, "--monthly");
        if (daily is null || monthly is null)
        {
            var current = await c.GetAsync(resourcePath);
            foreach (var field in new[] { "dailyTokens", "monthlyTokens" })
            {
                if (!body.ContainsKey(field))
                {
                    body[field] = current is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("budget", out var b)
                        && b.ValueKind == JsonValueKind.Object && b.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number
                        ? v.GetInt64()
                        : null;
                }
            }
        }

        return body;
    }

    private static void AddIfSet(JsonObject body, string field, string? value)
    {
        if (value is not null)
        {
            body[field] = value;
        }
    }
}

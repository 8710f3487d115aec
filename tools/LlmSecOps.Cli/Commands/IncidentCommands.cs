using System.CommandLine;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops incidents ...</c>: list, show, acknowledge, resolve.</summary>
public static class IncidentCommands
{
    private static readonly string[] IncidentFields = ["id", "source", "status", "keyId", "tenantId", "model", "summary", "evidence", "createdAt", "createdBy", "updatedAt", "updatedBy"];

    /// <summary>Builds the <c>incidents</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var incidents = new Command("incidents", "Incidents: leaks, anomalies, model-digest changes, manual reports.");
        incidents.Subcommands.Add(List(host, global));
        incidents.Subcommands.Add(Get(host, global));
        incidents.Subcommands.Add(SetStatus(host, global, "acknowledge", "Mark an incident acknowledged (operator)."));
        incidents.Subcommands.Add(SetStatus(host, global, "resolve", "Mark an incident resolved (operator)."));
        return incidents;
    }

    private static Command List(CliHost host, GlobalOptions global)
    {
        var key = new Option<string?>("--key") { Description = "Only incidents of this key id" };
        var tenant = new Option<string?>("--tenant") { Description = "Only incidents of this tenant id" };
        var source = new Option<string?>("--source") { Description = "anomaly, leak, model-digest or manual" };
        source.AcceptOnlyFromAmong("anomaly", "leak", "model-digest", "manual");
        var status = new Option<string?>("--status") { Description = "open, acknowledged or resolved" };
        status.AcceptOnlyFromAmong("open", "acknowledged", "resolved");
        var limit = new Option<int?>("--limit") { Description = "At most this many, newest first (1-1000; default 100)" };
        var command = new Command("list", "List incidents, newest first (auditor).") { key, tenant, source, status, limit };
        command.SetApiAction(host, global, async c =>
        {
            var query = Query(("keyId", c.Parse.GetValue(key)), ("tenantId", c.Parse.GetValue(tenant)), ("source", c.Parse.GetValue(source)),
                ("status", c.Parse.GetValue(status)), ("limit", c.Parse.GetValue(limit)?.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            c.Output.List(await c.GetAsync("admin/incidents" + query), "No incidents match.", "id", "createdAt", "source", "status", "keyId", "tenantId", "model", "summary");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Get(CliHost host, GlobalOptions global)
    {
        var id = CommandArgs.Id("incidentId", "The incident's id");
        var command = new Command("get", "Show an incident with its evidence (auditor).") { id };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.GetAsync($"admin/incidents/{Segment(c.Parse.GetValue(id)!)}"), "Incident", IncidentFields);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command SetStatus(CliHost host, GlobalOptions global, string verb, string description)
    {
        var id = CommandArgs.Id("incidentId", "The incident's id");
        var command = new Command(verb, description) { id };
        command.SetApiAction(host, global, async c =>
        {
            c.Output.Object(await c.PostAsync($"admin/incidents/{Segment(c.Parse.GetValue(id)!)}/{verb}"), "Incident", IncidentFields);
            return ExitCodes.Ok;
        });
        return command;
    }
}

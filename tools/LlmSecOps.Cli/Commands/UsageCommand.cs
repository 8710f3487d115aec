using System.CommandLine;
using System.Text.Json;
using LlmSecOps.Cli.Output;
using Spectre.Console;
using Spectre.Console.Rendering;
using static LlmSecOps.Cli.ApiCommand;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops usage</c>: settled usage for a period (totals, refusals by reason, per key).</summary>
public static class UsageCommand
{
    /// <summary>Builds the <c>usage</c> command.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var tenant = new Option<string?>("--tenant") { Description = "Tenant id" };
        var key = new Option<string?>("--key") { Description = "Key id" };
        var from = new Option<string?>("--from") { Description = "Start (inclusive): ISO 8601 date or timestamp, UTC unless an offset is given [default: start of this UTC month]" };
        var to = new Option<string?>("--to") { Description = "End (exclusive): ISO 8601 date or timestamp [default: now]" };
        var command = new Command("usage", "Tokens, requests and refusals by reason, per tenant and key, over a period (auditor).") { tenant, key, from, to };
        command.SetApiAction(host, global, async c =>
        {
            var query = Query(
                ("tenantId", c.Parse.GetValue(tenant)),
                ("keyId", c.Parse.GetValue(key)),
                ("from", c.Parse.GetValue(from) is { } f ? CommandArgs.Instant(f, "--from") : null),
                ("to", c.Parse.GetValue(to) is { } t ? CommandArgs.Instant(t, "--to") : null));
            var report = await c.GetAsync("admin/usage" + query);
            if (c.Output.IsJson || report is not { ValueKind: JsonValueKind.Object } r)
            {
                c.Output.Object(report, "Usage");
                return ExitCodes.Ok;
            }

            Render(c.Host.Out, r);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Renders a <c>UsageReport</c>: the period, the totals, then one row per key.</summary>
    public static void Render(IAnsiConsole console, JsonElement report)
    {
        var period = $"Usage from {Field(report, "from")} to {Field(report, "to")}";
        if (report.TryGetProperty("tenantId", out var t) && t.ValueKind == JsonValueKind.String)
        {
            period += $", tenant {t.GetString()}";
        }

        if (report.TryGetProperty("keyId", out var k) && k.ValueKind == JsonValueKind.String)
        {
            period += $", key {k.GetString()}";
        }

        console.Write(new Text(period + Environment.NewLine));
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in new[] { "tenant", "key", "requests", "prompt tokens", "completion tokens", "total tokens", "refusals" })
        {
            table.AddColumn(new TableColumn(new Text(column)));
        }

        if (report.TryGetProperty("keys", out var keys) && keys.ValueKind == JsonValueKind.Array)
        {
            foreach (var row in keys.EnumerateArray())
            {
                var usage = row.TryGetProperty("usage", out var u) ? u : default;
                table.AddRow(Cells(Field(row, "tenantId"), row.TryGetProperty("keyId", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString()! : "(no key)", usage));
            }
        }

        if (report.TryGetProperty("totals", out var totals))
        {
            table.AddRow(Cells("TOTAL", "", totals));
        }

        console.Write(table);
    }

    private static IEnumerable<IRenderable> Cells(string tenant, string key, JsonElement usage)
    {
        yield return new Text(tenant);
        yield return new Text(key);
        foreach (var field in new[] { "requests", "promptTokens", "completionTokens", "totalTokens" })
        {
            yield return new Text(usage.ValueKind == JsonValueKind.Object && usage.TryGetProperty(field, out var v) && v.TryGetInt64(out var n) ? Renderer.Count(n) : "-");
        }

        var refusals = usage.ValueKind == JsonValueKind.Object && usage.TryGetProperty("refusals", out var r) && r.ValueKind == JsonValueKind.Object
            ? string.Join(", ", r.EnumerateObject().Select(p => $"{p.Name}: {Renderer.Format(p.Value)}"))
            : "";
        yield return new Text(refusals.Length == 0 ? "-" : refusals);
    }

    private static string Field(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? Renderer.Format(value) : "-";
}

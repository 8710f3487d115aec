using System.CommandLine;
using System.Text.Json;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops audit verify</c>: checks the admin audit log's hash chain.</summary>
public static class AuditCommands
{
    /// <summary>Builds the <c>audit</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var audit = new Command("audit", "The admin audit log (append-only, hash-chained).");
        var verify = new Command("verify", "Verify the audit chain; exits 5 and names the first broken row when it is broken (auditor).");
        verify.SetApiAction(host, global, async c =>
        {
            var result = await c.GetAsync("admin/audit/verify");
            c.Output.Object(result, "Audit chain");
            var intact = IsIntact(result);
            if (intact is null)
            {
                throw new CliException(ExitCodes.ApiError, "The audit verification answer did not say whether the chain is intact.");
            }

            if (intact == false)
            {
                c.Output.Error("the audit chain is BROKEN" + (FirstBroken(result) is { } row ? $" at row {row}" : "") + ".");
                return ExitCodes.AuditChainBroken;
            }

            c.Output.Notice("The audit chain is intact.");
            return ExitCodes.Ok;
        });
        audit.Subcommands.Add(verify);
        return audit;
    }

    private static bool? IsIntact(JsonElement? result)
    {
        if (result is not { ValueKind: JsonValueKind.Object } r)
        {
            return null;
        }

        foreach (var name in new[] { "ok", "valid", "intact" })
        {
            if (r.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return value.GetBoolean();
            }
        }

        return null;
    }

    private static string? FirstBroken(JsonElement? result) =>
        result is { ValueKind: JsonValueKind.Object } r && r.TryGetProperty("firstBrokenSeq", out var seq) && seq.ValueKind != JsonValueKind.Null
            ? seq.GetRawText()
            : null;
}

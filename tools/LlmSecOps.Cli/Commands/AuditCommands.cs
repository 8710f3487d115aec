using System.CommandLine;
using System.Text.Json;

namespace LlmSecOps.Cli.Commands;

/// <summary><c>llmsecops audit verify</c>: checks the admin audit log's hash chain and its checkpoints.</summary>
public static class AuditCommands
{
    /// <summary>Builds the <c>audit</c> command group.</summary>
    public static Command Create(CliHost host, GlobalOptions global)
    {
        var audit = new Command("audit", "The admin audit log (append-only, hash-chained, checkpointed).");
        var verify = new Command("verify", "Verify the audit chain; when it is broken, name the first broken row and exit 5 (auditor).");
        verify.SetApiAction(host, global, async c =>
        {
            var result = await c.GetAsync("admin/audit/verify");
            c.Output.Object(result, "Audit chain", "valid", "rows", "headSeq", "headHash", "checkpointsChecked", "firstBrokenSeq", "problem");
            if (result is not { ValueKind: JsonValueKind.Object } r || !r.TryGetProperty("valid", out var valid)
                || valid.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new CliException(ExitCodes.ApiError, "The verification answer does not say whether the chain is valid; is this an LlmSecOps admin API?");
            }

            if (!valid.GetBoolean())
            {
                var row = r.TryGetProperty("firstBrokenSeq", out var seq) && seq.ValueKind == JsonValueKind.Number ? $" at row {seq.GetRawText()}" : "";
                var problem = r.TryGetProperty("problem", out var p) && p.ValueKind == JsonValueKind.String ? ": " + p.GetString() : "";
                c.Output.Error($"the audit chain is BROKEN{row}{problem}");
                return ExitCodes.AuditChainBroken;
            }

            c.Output.Notice("The audit chain is intact.");
            return ExitCodes.Ok;
        });
        audit.Subcommands.Add(verify);
        return audit;
    }
}

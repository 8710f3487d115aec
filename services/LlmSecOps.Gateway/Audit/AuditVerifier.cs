using System.Security.Cryptography;
using Dapper;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Database;

namespace LlmSecOps.Gateway.Audit;

/// <summary>The answer of <c>GET /admin/audit/verify</c>.</summary>
/// <param name="Valid">True when the chain is intact and agrees with every checkpoint.</param>
/// <param name="Rows">Rows read.</param>
/// <param name="HeadSeq">Sequence number of the newest row (0 when empty).</param>
/// <param name="HeadHash">Hash of the newest row (hex).</param>
/// <param name="CheckpointsChecked">Signed checkpoints compared with the chain.</param>
/// <param name="FirstBrokenSeq">The first row that cannot be trusted, when not valid.</param>
/// <param name="Problem">What is wrong, in words.</param>
public sealed record AuditVerifyResponse(bool Valid, long Rows, long HeadSeq, string? HeadHash, int CheckpointsChecked, long? FirstBrokenSeq, string? Problem);

/// <summary>
/// Verifies the audit chain: every row's sequence number follows its predecessor's, its <c>prev_hash</c> is the
/// predecessor's hash, and its hash matches its content (an edited or deleted row breaks here); then every signed
/// checkpoint must match the row it names, and no checkpoint may name a row beyond the newest (deleted newest rows,
/// or the chain rewritten consistently from some row on, break here).
/// </summary>
public sealed class AuditVerifier(GatewayDatabase database, AuditCheckpointer checkpointer)
{
    /// <summary>Maps <c>GET /admin/audit/verify</c> (auditor).</summary>
    public static RouteGroupBuilder MapAuditEndpoints(RouteGroupBuilder admin)
    {
        admin.MapGet("/audit/verify", async (AuditVerifier verifier, CancellationToken ct) => Results.Ok(await verifier.VerifyAsync(ct)))
            .AllowRoles(AdminRole.Auditor);
        return admin;
    }

    /// <summary>Verifies the whole chain.</summary>
    public async Task<AuditVerifyResponse> VerifyAsync(CancellationToken cancellationToken)
    {
        var (checkpoints, invalidLines) = await checkpointer.ReadAsync(cancellationToken);
        var bySeq = checkpoints.GroupBy(c => c.Seq).ToDictionary(g => g.Key, g => g.ToList());
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = connection.QueryUnbufferedAsync<Row>(
            "SELECT seq, ts, actor, action, target, details, prev_hash, hash FROM audit_log ORDER BY seq").WithCancellation(cancellationToken);

        var expectedPrev = AuditChain.Genesis;
        long expectedSeq = 1;
        long count = 0;
        long lastMatchedCheckpoint = 0;
        var checkedCount = 0;
        await foreach (var row in rows)
        {
            count++;
            if (row.Seq != expectedSeq)
            {
                return Broken(count, expectedSeq - 1, expectedPrev, checkedCount, expectedSeq,
                    $"Row {expectedSeq} is missing (the next row is {row.Seq}): rows were deleted.");
            }

            if (!CryptographicOperations.FixedTimeEquals(row.PrevHash, expectedPrev))
            {
                return Broken(count, row.Seq, row.Hash, checkedCount, row.Seq, $"Row {row.Seq} does not link to row {row.Seq - 1} (prev_hash differs).");
            }

            var computed = AuditChain.ComputeHash(row.PrevHash, row.Seq, row.Ts, row.Actor, row.Action, row.Target, row.Details);
            if (!CryptographicOperations.FixedTimeEquals(computed, row.Hash))
            {
                return Broken(count, row.Seq, row.Hash, checkedCount, row.Seq, $"Row {row.Seq} was modified: its content does not match its hash.");
            }

            if (bySeq.TryGetValue(row.Seq, out var marks))
            {
                var hex = Convert.ToHexStringLower(row.Hash);
                foreach (var mark in marks)
                {
                    checkedCount++;
                    if (!string.Equals(mark.Hash, hex, StringComparison.Ordinal))
                    {
                        return Broken(count, row.Seq, row.Hash, checkedCount, lastMatchedCheckpoint + 1,
                            $"The chain was rewritten: row {row.Seq} differs from the signed checkpoint of {mark.At:O}; the last row matching a checkpoint is {lastMatchedCheckpoint}, so rows {lastMatchedCheckpoint + 1} to {row.Seq} cannot be trusted.");
                    }
                }

                lastMatchedCheckpoint = row.Seq;
            }

            expectedPrev = row.Hash;
            expectedSeq = row.Seq + 1;
        }

        var head = expectedSeq - 1;
        var beyond = checkpoints.Where(c => c.Seq > head).OrderByDescending(c => c.Seq).FirstOrDefault();
        if (beyond is not null)
        {
            return Broken(count, head, expectedPrev, checkedCount, head + 1,
                $"Rows {head + 1} to {beyond.Seq} were deleted: a signed checkpoint of {beyond.At:O} names row {beyond.Seq}, but the log ends at row {head}.");
        }

        if (invalidLines.Count > 0)
        {
            return new AuditVerifyResponse(false, count, head, head == 0 ? null : Convert.ToHexStringLower(expectedPrev), checkedCount, null,
                $"The checkpoint file has lines with a bad signature ({string.Join(", ", invalidLines)}): it was tampered with.");
        }

        return new AuditVerifyResponse(true, count, head, head == 0 ? null : Convert.ToHexStringLower(expectedPrev), checkedCount, null, null);
    }

    private static AuditVerifyResponse Broken(long rows, long headSeq, byte[] headHash, int checkedCount, long firstBroken, string problem) =>
        new(false, rows, headSeq, Convert.ToHexStringLower(headHash), checkedCount, firstBroken, problem);

    private sealed class Row
    {
        public long Seq { get; set; }
        public DateTime Ts { get; set; }
        public string Actor { get; set; } = "";
        public string Action { get; set; } = "";
        public string Target { get; set; } = "";
        public string Details { get; set; } = "";
        public byte[] PrevHash { get; set; } = [];
        public byte[] Hash { get; set; } = [];
    }
}

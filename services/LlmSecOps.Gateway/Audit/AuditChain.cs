using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Npgsql;

namespace LlmSecOps.Gateway.Audit;

/// <summary>
/// The admin audit log: append-only and hash-chained. Row n stores
/// <c>hash_n = SHA-256(hash_{n-1} || seq || ts_us || len+actor || len+action || len+target || len+details)</c>
/// (integers big-endian, strings UTF-8 with a 4-byte length prefix so field boundaries are unambiguous), with
/// <c>hash_0</c> = 32 zero bytes. Appends are serialised by a transaction-scoped advisory lock and happen inside
/// the transaction of the action they record, so an action and its audit row commit or roll back together.
/// </summary>
public static class AuditChain
{
    /// <summary>Advisory lock key serialising appends (any constant unique to the gateway).</summary>
    public const long LockKey = 0x4C534F_41554454; // "LSO" "AUDT"

    /// <summary>The hash before the first row.</summary>
    public static readonly byte[] Genesis = new byte[32];

    /// <summary>Appends a row in the caller's transaction; returns its sequence number.</summary>
    public static async Task<long> AppendAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string actor, string action, string target, object? details)
    {
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@k)", new { k = LockKey }, transaction);
        var head = await connection.QuerySingleOrDefaultAsync<HeadRow>(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", transaction: transaction);
        var seq = (head?.Seq ?? 0) + 1;
        var prev = head?.Hash ?? Genesis;
        var ts = TruncateToMicroseconds(DateTime.UtcNow);
        var detailsJson = JsonSerializer.Serialize(details ?? new { }, JsonSerializerOptions.Web);
        var hash = ComputeHash(prev, seq, ts, actor, action, target, detailsJson);
        await connection.ExecuteAsync(
            "INSERT INTO audit_log (seq, ts, actor, action, target, details, prev_hash, hash) VALUES (@seq, @ts, @actor, @action, @target, @details, @prev, @hash)",
            new { seq, ts, actor, action, target, details = detailsJson, prev, hash }, transaction);
        return seq;
    }

    /// <summary>The row hash (public so that verification and tests share one definition).</summary>
    public static byte[] ComputeHash(ReadOnlySpan<byte> prevHash, long seq, DateTime ts, string actor, string action, string target, string details)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(prevHash);
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(number, seq);
        hash.AppendData(number);
        BinaryPrimitives.WriteInt64BigEndian(number, UnixMicroseconds(ts));
        hash.AppendData(number);
        AppendString(hash, actor);
        AppendString(hash, action);
        AppendString(hash, target);
        AppendString(hash, details);
        return hash.GetHashAndReset();
    }

    /// <summary>Microseconds since the Unix epoch (Postgres keeps timestamps to the microsecond).</summary>
    public static long UnixMicroseconds(DateTime ts) =>
        (DateTime.SpecifyKind(ts, DateTimeKind.Utc).Ticks - DateTime.UnixEpoch.Ticks) / 10;

    private static DateTime TruncateToMicroseconds(DateTime ts) => new(ts.Ticks - (ts.Ticks % 10), DateTimeKind.Utc);

    private static void AppendString(IncrementalHash hash, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }

    private sealed class HeadRow
    {
        public long Seq { get; set; }
        public byte[] Hash { get; set; } = [];
    }
}

using System.Globalization;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Validation;

namespace LlmSecOps.Gateway.Usage;

/// <summary>Usage totals: requests, tokens and refusals by reason (every outcome other than <c>ok</c>).</summary>
public sealed record UsageTotals(long Requests, long PromptTokens, long CompletionTokens, long TotalTokens, IReadOnlyDictionary<string, long> Refusals);

/// <summary>One key's (or unauthenticated traffic's, key null) usage.</summary>
public sealed record KeyUsage(string TenantId, string? KeyId, UsageTotals Usage);

/// <summary>The answer of <c>GET /admin/usage</c>.</summary>
public sealed record UsageReport(DateTime From, DateTime To, string? TenantId, string? KeyId, UsageTotals Totals, IReadOnlyList<KeyUsage> Keys);

/// <summary><c>GET /admin/usage?tenantId=&amp;keyId=&amp;from=&amp;to=</c> (auditor): settled usage for a period.</summary>
public static class UsageEndpoints
{
    /// <summary>Longest period one report covers.</summary>
    public static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(366);

    /// <summary>Maps the route onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapUsageEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/usage", ReportAsync).AllowRoles(AdminRole.Auditor);
        return admin;
    }

    private static async Task<IResult> ReportAsync(string? tenantId, string? keyId, string? from, string? to, UsageStore store, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var problems = new Problems();
        problems.Check(tenantId is null || Ids.LooksValid(tenantId), "tenantId", "Not a tenant id.");
        problems.Check(keyId is null || KeyEndpoints.IsKeyId(keyId), "keyId", "A key id is 12 base62 characters.");
        var start = new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc);
        var end = now;
        if (from is not null && !TryParseTime(from, out start))
        {
            problems.Add("from", "An ISO 8601 date or date-time (UTC unless an offset is given), e.g. 2026-11-01 or 2026-11-01T00:00:00Z.");
        }

        if (to is not null && !TryParseTime(to, out end))
        {
            problems.Add("to", "An ISO 8601 date or date-time (UTC unless an offset is given); the period ends before it.");
        }

        if (problems.IsEmpty)
        {
            problems.Check(start < end, "to", "Must be after 'from'.");
            problems.Check(end - start <= MaxPeriod, "to", $"A report covers at most {MaxPeriod.TotalDays} days.");
        }

        if (!problems.IsEmpty)
        {
            return problems.ToResult();
        }

        var groups = await store.GroupsAsync(tenantId, keyId, start, end, ct);
        var keys = groups.GroupBy(g => (g.TenantId, g.KeyId)).Select(g => new KeyUsage(g.Key.TenantId, g.Key.KeyId, Totals(g))).ToList();
        return Results.Ok(new UsageReport(start, end, tenantId, keyId, Totals(groups), keys));
    }

    private static UsageTotals Totals(IEnumerable<UsageGroup> groups)
    {
        long requests = 0, prompt = 0, completion = 0;
        var refusals = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            requests += g.Requests;
            prompt += g.PromptTokens;
            completion += g.CompletionTokens;
            if (g.Outcome != "ok")
            {
                refusals[g.Outcome] = refusals.GetValueOrDefault(g.Outcome) + g.Requests;
            }
        }

        return new UsageTotals(requests, prompt, completion, prompt + completion, refusals);
    }

    private static bool TryParseTime(string text, out DateTime value)
    {
        if (text.Length <= 40 && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            value = parsed.UtcDateTime;
            return true;
        }

        value = default;
        return false;
    }
}

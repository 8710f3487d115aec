using System.Net;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.Gateway.Tests.Usage;

public sealed class UsageReportTests
{
    private static readonly DateTime Day = new(2026, 11, 10, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public async Task UsageReportsSumSettledTokensRequestsAndRefusalsPerTenantAndKeyForThePeriod()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync("a");
        var other = await host.CreateTenantAsync("b");
        var (k1, _) = await host.IssueKeyAsync(tenant);
        var (k2, _) = await host.IssueKeyAsync(tenant);
        var (k3, _) = await host.IssueKeyAsync(other);
        var store = host.App.Services.GetRequiredService<UsageStore>();

        Assert.True(await store.SettleAsync(new UsageRecord("r1", Day, tenant, k1, "POST /v1/chat/completions", "llama3.2:latest", "ok", 100, 50), default));
        Assert.False(await store.SettleAsync(new UsageRecord("r1", Day, tenant, k1, "POST /v1/chat/completions", "llama3.2:latest", "ok", 100, 50), default));
        Assert.Equal(5, await store.SettleManyAsync(
        [
            new UsageRecord("r2", Day.AddHours(1), tenant, k1, "POST /api/chat", "llama3.2:latest", "ok", 10, 5),
            new UsageRecord("r3", Day.AddHours(2), tenant, k1, "POST /api/chat", "llama3.2:latest", "budget_exhausted", 0, 0),
            new UsageRecord("r4", Day.AddHours(3), tenant, k2, "POST /v1/embeddings", "nomic:latest", "rate_limited", 0, 0),
            new UsageRecord("r5", Day.AddDays(40), tenant, k2, "POST /v1/embeddings", "nomic:latest", "ok", 7, 0),
            new UsageRecord("r6", Day, other, k3, "POST /v1/chat/completions", "llama3.2:latest", "ok", 1000, 1000),
        ], default));

        using var auditor = host.Admin(await host.IssueTokenAsync("auditor"));
        var report = await (await auditor.GetAsync($"/admin/usage?tenantId={tenant}&from=2026-11-01&to=2026-12-01")).ReadAsync();
        var totals = report.GetProperty("totals");
        Assert.Equal(4, totals.GetProperty("requests").GetInt64());
        Assert.Equal(110, totals.GetProperty("promptTokens").GetInt64());
        Assert.Equal(55, totals.GetProperty("completionTokens").GetInt64());
        Assert.Equal(165, totals.GetProperty("totalTokens").GetInt64());
        Assert.Equal(1, totals.GetProperty("refusals").GetProperty("budget_exhausted").GetInt64());
        Assert.Equal(1, totals.GetProperty("refusals").GetProperty("rate_limited").GetInt64());
        var keys = report.GetProperty("keys").EnumerateArray().ToDictionary(k => k.Str("keyId"), k => k.GetProperty("usage"));
        Assert.Equal(3, keys[k1].GetProperty("requests").GetInt64());
        Assert.Equal(1, keys[k2].GetProperty("requests").GetInt64());
        Assert.False(keys.ContainsKey(k3));

        var oneKey = await (await auditor.GetAsync($"/admin/usage?keyId={k2}&from=2026-11-01T00:00:00Z&to=2027-01-01T00:00:00Z")).ReadAsync();
        Assert.Equal(2, oneKey.GetProperty("totals").GetProperty("requests").GetInt64());
        Assert.Equal(7, oneKey.GetProperty("totals").GetProperty("totalTokens").GetInt64());
        Assert.Equal(165 + 2000, await store.TokensAsync(null, null, Day.AddDays(-1), Day.AddDays(1), default));
    }

    [Fact]
    public async Task BadUsageQueriesListEveryProblem()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        var response = await admin.GetAsync("/admin/usage?from=yesterday&to=soon&keyId=short");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.ReadAsync()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("from", out _));
        Assert.True(errors.TryGetProperty("to", out _));
        Assert.True(errors.TryGetProperty("keyId", out _));
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/admin/usage?from=2026-12-01&to=2026-11-01")).StatusCode);
    }
}

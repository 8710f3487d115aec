using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;

namespace LlmSecOps.Gateway.Tests.Tenants;

public sealed class TenantTierModelTests
{
    private const string DigestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string DigestB = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    [Fact]
    public async Task ADefaultTierExistsOutOfTheBoxAndNewTenantsGetIt()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        var tier = await (await admin.GetAsync("/admin/tiers/default")).ReadAsync();
        Assert.Equal(["*"], tier.GetProperty("allowedModels").EnumerateArray().Select(m => m.GetString()));
        Assert.True(tier.GetProperty("defaultMaxTokens").GetInt32() <= tier.GetProperty("maxMaxTokens").GetInt32());
        var tenant = await (await admin.PostAsJsonAsync("/admin/tenants", new { name = "acme" })).ReadAsync();
        Assert.Equal("default", tenant.Str("tier"));
        Assert.Equal("active", tenant.Str("status"));
        Assert.StartsWith("ten_", tenant.Str("id"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadTenantTierAndModelRequestsListEveryProblem()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        var tenant = await admin.PostAsJsonAsync("/admin/tenants", new { name = "", tier = "nope" });
        Assert.Equal(HttpStatusCode.BadRequest, tenant.StatusCode);
        var tenantErrors = (await tenant.ReadAsync()).GetProperty("errors");
        Assert.True(tenantErrors.TryGetProperty("name", out _));
        Assert.True(tenantErrors.TryGetProperty("tier", out _));

        var tier = await admin.PutAsJsonAsync("/admin/tiers/gold", new { allowedModels = new[] { "Bad Name!" }, defaultMaxTokens = 500, maxMaxTokens = 100, requestsPerMinute = 0 });
        Assert.Equal(HttpStatusCode.BadRequest, tier.StatusCode);
        var tierErrors = (await tier.ReadAsync()).GetProperty("errors");
        foreach (var field in new[] { "allowedModels[0]", "defaultMaxTokens", "requestsPerMinute", "tokensPerMinute", "concurrency" })
        {
            Assert.True(tierErrors.TryGetProperty(field, out _), field);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tiers/gold")).StatusCode);
        var model = await admin.PutAsJsonAsync("/admin/models/llama3.2", new { digest = "sha256:XYZ" });
        Assert.Equal(HttpStatusCode.BadRequest, model.StatusCode);
        Assert.Equal(0, (await (await admin.GetAsync("/admin/models")).ReadAsync()).GetArrayLength());

        var budget = await admin.PutAsJsonAsync($"/admin/tenants/{await host.CreateTenantAsync()}/budget", new { dailyTokens = -1, monthlyTokens = 10 });
        Assert.Equal(HttpStatusCode.BadRequest, budget.StatusCode);
    }

    [Fact]
    public async Task ModelListingsShowOnlyApprovedModelsTheTierAllowsWithTheirPinnedDigests()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        Assert.Equal("llama3.2:latest", (await (await admin.PutAsJsonAsync("/admin/models/llama3.2", new { digest = DigestA })).ReadAsync()).Str("name"));
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/admin/models/qwen2.5:0.5b", new { digest = DigestB })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/admin/tiers/small", new
        {
            allowedModels = new[] { "qwen2.5:0.5b", "not-approved:1b" },
            defaultMaxTokens = 128, maxMaxTokens = 256, requestsPerMinute = 10, tokensPerMinute = 1000, concurrency = 1,
        })).StatusCode);

        var everything = await host.CreateTenantAsync("big");
        var small = await host.CreateTenantAsync("small", "small");
        var (_, bigKey) = await host.IssueKeyAsync(everything);
        var (_, smallKey) = await host.IssueKeyAsync(small);

        using var big = host.Data(bigKey);
        var openai = await (await big.GetAsync("/v1/models")).ReadAsync();
        Assert.Equal("list", openai.Str("object"));
        Assert.Equal(["llama3.2:latest", "qwen2.5:0.5b"], openai.GetProperty("data").EnumerateArray().Select(m => m.Str("id")));

        using var smallClient = host.Data(smallKey);
        var tags = await (await smallClient.GetAsync("/api/tags")).ReadAsync();
        var only = Assert.Single(tags.GetProperty("models").EnumerateArray());
        Assert.Equal("qwen2.5:0.5b", only.Str("name"));
        Assert.Equal(DigestB["sha256:".Length..], only.Str("digest"));

        // Moving the big tenant to the small tier narrows its listing at once; an unknown tier is refused.
        using (var move = await admin.PutAsJsonAsync($"/admin/tenants/{everything}/policy", new { tier = "small" }))
        {
            Assert.Equal(HttpStatusCode.OK, move.StatusCode);
        }

        Assert.Equal(["qwen2.5:0.5b"], (await (await big.GetAsync("/v1/models")).ReadAsync()).GetProperty("data").EnumerateArray().Select(m => m.Str("id")));
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PutAsJsonAsync($"/admin/tenants/{everything}/policy", new { tier = "nope" })).StatusCode);

        // Re-pinning changes the digest; withdrawing removes the model.
        await admin.PutAsJsonAsync("/admin/models/qwen2.5:0.5b", new { digest = DigestA });
        Assert.Equal(DigestA["sha256:".Length..], (await (await smallClient.GetAsync("/api/tags")).ReadAsync()).GetProperty("models")[0].Str("digest"));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/admin/models/qwen2.5:0.5b")).StatusCode);
        Assert.Equal(0, (await (await smallClient.GetAsync("/api/tags")).ReadAsync()).GetProperty("models").GetArrayLength());
    }

    [Fact]
    public async Task ASuspendedTenantsKeysAre403InBothApisUntilResumed()
    {
        await using var host = await GatewayHost.StartAsync(settings: new Dictionary<string, string?> { ["Keys:CacheTtl"] = "00:01:00" });
        var tenant = await host.CreateTenantAsync();
        var (_, key) = await host.IssueKeyAsync(tenant);
        using var data = host.Data(key);
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
        using var admin = host.Admin();
        Assert.Equal("suspended", (await (await admin.PostAsync($"/admin/tenants/{tenant}/suspend", null)).ReadAsync()).Str("status"));
        var refused = await data.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("tenant_suspended", (await refused.ReadAsync()).GetProperty("error").Str("code"));
        var ollama = await data.GetAsync("/api/tags");
        Assert.Equal(HttpStatusCode.Forbidden, ollama.StatusCode);
        Assert.Equal(JsonValueKind.String, (await ollama.ReadAsync()).GetProperty("error").ValueKind);
        await admin.PostAsync($"/admin/tenants/{tenant}/resume", null);
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task PolicyAndBudgetsAreStoredAndReadBack()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (keyId, _) = await host.IssueKeyAsync(tenant);
        using var admin = host.Admin();
        var policy = await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/policy", new { loggingPolicy = "redacted", retentionDays = 7, guardPolicy = "block" });
        Assert.Equal(HttpStatusCode.OK, policy.StatusCode);
        Assert.Equal(JsonValueKind.Null, (await policy.ReadAsync()).GetProperty("webhookSecret").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/admin/tenants/{tenant}/budget", new { dailyTokens = 1000, monthlyTokens = 20000 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/admin/keys/{keyId}/budget", new { dailyTokens = 100 })).StatusCode);

        var read = await (await admin.GetAsync($"/admin/tenants/{tenant}")).ReadAsync();
        Assert.Equal("redacted", read.GetProperty("policy").Str("loggingPolicy"));
        Assert.Equal(7, read.GetProperty("policy").GetProperty("retentionDays").GetInt32());
        Assert.Equal("block", read.GetProperty("policy").Str("guardPolicy"));
        Assert.Equal(20000, read.GetProperty("budget").GetProperty("monthlyTokens").GetInt64());
        var key = await (await admin.GetAsync($"/admin/keys/{keyId}")).ReadAsync();
        Assert.Equal(100, key.GetProperty("budget").GetProperty("dailyTokens").GetInt64());
        Assert.Equal(JsonValueKind.Null, key.GetProperty("budget").GetProperty("monthlyTokens").ValueKind);
    }
}

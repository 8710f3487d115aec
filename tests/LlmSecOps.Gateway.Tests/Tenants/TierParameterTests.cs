using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;

namespace LlmSecOps.Gateway.Tests.Tenants;

public sealed class TierParameterTests
{
    private static readonly string[] ParameterFields =
    [
        "maxN", "maxKeepAliveSeconds", "maxNumCtx", "allowHardwareOptions", "allowRaw", "allowTemplateOverride", "allowSystemOverride",
        "maxImages", "maxImageBytes", "allowRemoteImageUrls", "allowLogprobs", "maxTopLogprobs", "allowLogitBias", "maxLogitBiasEntries",
    ];

    private static object Tier(string? overCap = null, object? parameters = null) => new
    {
        allowedModels = new[] { "*" },
        defaultMaxTokens = 100,
        maxMaxTokens = 200,
        maxTokensOverCap = overCap,
        requestsPerMinute = 60,
        tokensPerMinute = 100000,
        concurrency = 4,
        parameters,
    };

    [Fact]
    public async Task TheDefaultTierAndATierPutWithoutBoundsGetTheSameFailClosedDefaults()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();

        // The migration's column defaults (for tiers that existed before it) and the admin API's defaults agree.
        var builtIn = await (await admin.GetAsync("/admin/tiers/default")).ReadAsync();
        var put = await admin.PutAsJsonAsync("/admin/tiers/plain", Tier());
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var plain = await put.ReadAsync();
        Assert.Equal("clamp", builtIn.Str("maxTokensOverCap"));
        Assert.Equal("clamp", plain.Str("maxTokensOverCap"));
        var p = builtIn.GetProperty("parameters");
        Assert.Equal(ParameterFields.Order(), p.EnumerateObject().Select(x => x.Name).Order());
        Assert.Equal(p.GetRawText(), plain.GetProperty("parameters").GetRawText());

        // Fail closed: what can escape policy is off unless switched on.
        Assert.False(p.GetProperty("allowHardwareOptions").GetBoolean());
        Assert.False(p.GetProperty("allowRaw").GetBoolean());
        Assert.False(p.GetProperty("allowTemplateOverride").GetBoolean());
        Assert.False(p.GetProperty("allowRemoteImageUrls").GetBoolean());
        Assert.False(p.GetProperty("allowLogitBias").GetBoolean());
        Assert.Equal(4, p.GetProperty("maxN").GetInt32());
        Assert.Equal(8192, p.GetProperty("maxNumCtx").GetInt32());
        Assert.Equal(1800, p.GetProperty("maxKeepAliveSeconds").GetInt32());
    }

    [Fact]
    public async Task TierBoundsAreStoredShownByGetAndResetToDefaultsWhenLeftOutOfALaterPut()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        var parameters = new
        {
            maxN = 2, maxKeepAliveSeconds = 60, maxNumCtx = 2048, allowHardwareOptions = true, allowRaw = true, allowTemplateOverride = true,
            allowSystemOverride = false, maxImages = 1, maxImageBytes = 1000, allowRemoteImageUrls = true, allowLogprobs = false, maxTopLogprobs = 0,
            allowLogitBias = true, maxLogitBiasEntries = 3,
        };
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/admin/tiers/strict", Tier("reject", parameters))).StatusCode);

        var got = await (await admin.GetAsync("/admin/tiers/strict")).ReadAsync();
        Assert.Equal("reject", got.Str("maxTokensOverCap"));
        Assert.Equal(JsonSerializer.Serialize(parameters, JsonSerializerOptions.Web), got.GetProperty("parameters").GetRawText());
        var listed = (await (await admin.GetAsync("/admin/tiers")).ReadAsync()).EnumerateArray().Single(t => t.Str("name") == "strict");
        Assert.Equal(got.GetProperty("parameters").GetRawText(), listed.GetProperty("parameters").GetRawText());

        // PUT replaces the whole tier: a field left out takes its default, never the previous value.
        var replaced = await (await admin.PutAsJsonAsync("/admin/tiers/strict", Tier(parameters: new { maxN = 3 }))).ReadAsync();
        Assert.Equal("clamp", replaced.Str("maxTokensOverCap"));
        Assert.Equal(3, replaced.GetProperty("parameters").GetProperty("maxN").GetInt32());
        Assert.False(replaced.GetProperty("parameters").GetProperty("allowRaw").GetBoolean());
        Assert.Equal(8192, replaced.GetProperty("parameters").GetProperty("maxNumCtx").GetInt32());
    }

    [Fact]
    public async Task BadTierBoundsAreAllReportedAtOnceInTheAdminProblemFormatAndChangeNothing()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/admin/tiers/gold", Tier(parameters: new { maxN = 2 }))).StatusCode);

        var bad = await admin.PutAsJsonAsync("/admin/tiers/gold", Tier("truncate", new
        {
            maxN = 0, maxKeepAliveSeconds = -1, maxNumCtx = 0, maxImages = 101, maxImageBytes = -5L, maxTopLogprobs = 21, maxLogitBiasEntries = 1001,
        }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.StartsWith("application/problem+json", bad.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        var errors = (await bad.ReadAsync()).GetProperty("errors");
        foreach (var field in new[]
        {
            "maxTokensOverCap", "parameters.maxN", "parameters.maxKeepAliveSeconds", "parameters.maxNumCtx", "parameters.maxImages",
            "parameters.maxImageBytes", "parameters.maxTopLogprobs", "parameters.maxLogitBiasEntries",
        })
        {
            Assert.True(errors.TryGetProperty(field, out _), field);
        }

        Assert.Equal(8, errors.EnumerateObject().Count());

        // Wrong types and unknown (misspelt) bounds are refused, not ignored.
        var typo = await admin.PutAsJsonAsync("/admin/tiers/gold", Tier(parameters: new { allowRawMode = true }));
        Assert.Equal(HttpStatusCode.BadRequest, typo.StatusCode);
        var wrongType = await admin.PutAsJsonAsync("/admin/tiers/gold", Tier(parameters: new { allowRaw = "yes" }));
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.StatusCode);

        var unchanged = await (await admin.GetAsync("/admin/tiers/gold")).ReadAsync();
        Assert.Equal(2, unchanged.GetProperty("parameters").GetProperty("maxN").GetInt32());
        Assert.False(unchanged.GetProperty("parameters").GetProperty("allowRaw").GetBoolean());
    }
}

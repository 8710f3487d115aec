using System.Text.Json;

namespace LlmSecOps.Cli.Tests.Walkthrough;

/// <summary><c>tiers set --over-cap ... --param NAME=VALUE</c> against the real gateway.</summary>
public sealed class TierParameterCliTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task TierParameterBoundsAreSetWithParamOptionsAndShownByGet()
    {
        var tier = "cli-" + Guid.NewGuid().ToString("N")[..8];
        var set = await gateway.CliAsync("tiers", "set", tier, "--models", "*", "--default-max-tokens", "64", "--max-tokens", "128",
            "--rpm", "30", "--tpm", "10000", "--concurrency", "2", "--over-cap", "reject", "--param", "maxN=2", "--param", "allowRaw=true");
        Assert.True(set.ExitCode == 0, set.ToString());

        var shown = await gateway.CliJsonAsync("tiers", "get", tier);
        Assert.Equal("reject", shown.GetProperty("maxTokensOverCap").GetString());
        Assert.Equal(2, shown.GetProperty("parameters").GetProperty("maxN").GetInt32());
        Assert.True(shown.GetProperty("parameters").GetProperty("allowRaw").GetBoolean());
        Assert.False(shown.GetProperty("parameters").GetProperty("allowTemplateOverride").GetBoolean());

        var badValue = await gateway.CliAsync("tiers", "set", tier, "--models", "*", "--default-max-tokens", "64", "--max-tokens", "128",
            "--rpm", "30", "--tpm", "10000", "--concurrency", "2", "--param", "maxN=lots");
        Assert.NotEqual(0, badValue.ExitCode);
        var outOfRange = await gateway.CliAsync("tiers", "set", tier, "--models", "*", "--default-max-tokens", "64", "--max-tokens", "128",
            "--rpm", "30", "--tpm", "10000", "--concurrency", "2", "--param", "maxN=0");
        Assert.Equal(1, outOfRange.ExitCode);
        Assert.Contains("parameters.maxN", outOfRange.Stderr, StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Number, (await gateway.CliJsonAsync("tiers", "get", tier)).GetProperty("parameters").GetProperty("maxN").ValueKind);
    }
}

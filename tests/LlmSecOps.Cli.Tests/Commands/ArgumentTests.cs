using LlmSecOps.Cli.Commands;

namespace LlmSecOps.Cli.Tests.Commands;

public sealed class ArgumentTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("90m", "2026-11-22T11:30:00Z")]
    [InlineData("12h", "2026-11-22T22:00:00Z")]
    [InlineData("30d", "2026-12-22T10:00:00Z")]
    [InlineData("2027-01-01", "2027-01-01T00:00:00Z")]
    [InlineData("2027-01-01T12:00:00+02:00", "2027-01-01T10:00:00Z")]
    public void ExpiriesAreDurationsFromNowOrTimestampsSentAsUtc(string value, string expected) =>
        Assert.Equal(expected, CommandArgs.Expiry(value, Now, "--expires"));

    [Theory]
    [InlineData("soon")]
    [InlineData("30y")]
    [InlineData("-3d")]
    [InlineData("0d")]
    public void AnExpiryThatIsNeitherADurationNorATimestampIsAUsageError(string value)
    {
        var ex = Assert.Throws<CliException>(() => CommandArgs.Expiry(value, Now, "--expires"));
        Assert.Equal(ExitCodes.UsageError, ex.ExitCode);
        Assert.Contains("--expires", ex.Message);
    }

    [Fact]
    public void ScopeListsAreSplitTrimmedAndDeduplicated() =>
        Assert.Equal("[\"chat\",\"models\"]", CommandArgs.List(" chat, models,,chat ").ToJsonString());

    [Theory]
    [InlineData("llama3.2:3b", "admin/models/llama3.2%3A3b")]
    [InlineData("library/llama3:8b", "admin/models/library/llama3%3A8b")]
    [InlineData("a b?c", "admin/models/a%20b%3Fc")]
    public void ModelNamesKeepTheirSlashesAndEscapeEverythingElse(string name, string path) =>
        Assert.Equal(path, ModelCommands.ModelPath(name));

    [Fact]
    public void QueryStringsLeaveOutEmptyValuesAndEscapeTheRest() =>
        Assert.Equal("?keyId=abc&source=model-digest&from=2026-11-01T00%3A00%3A00Z",
            ApiCommand.Query(("keyId", "abc"), ("tenantId", null), ("source", "model-digest"), ("status", ""), ("from", "2026-11-01T00:00:00Z")));

    [Fact]
    public async Task ABudgetThatIsNotANumberIsAUsageError()
    {
        var result = await CliRunner.RunAsync("--url", CliRunner.ClosedLoopbackUrl(), "--token", "t0123456789012345678901234567890123",
            "tenants", "budget", "set", "ten_x", "--daily", "lots", "--monthly", "5");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--daily must be a whole number of tokens or 'none'", result.Stderr);
    }

    [Fact]
    public async Task ErasingRecordsWithoutYesIsRefusedBeforeAnyRequest()
    {
        // The URL is closed: reaching it would exit 3, so exit 2 proves nothing was sent.
        var result = await CliRunner.RunAsync("--url", CliRunner.ClosedLoopbackUrl(), "--token", "t0123456789012345678901234567890123",
            "tenants", "erase-records", "ten_x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--yes", result.Stderr);
    }

    [Fact]
    public async Task LookupFromStdinRefusesSomethingThatIsNotAKeyWithoutSendingIt()
    {
        var result = await CliRunner.RunWithAsync(null, "lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmZ",
            "--url", CliRunner.ClosedLoopbackUrl(), "--token", "t0123456789012345678901234567890123", "keys", "lookup", "--key-stdin");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("checksum", result.Stderr);
        Assert.DoesNotContain("lso_live_", result.All);
    }
}

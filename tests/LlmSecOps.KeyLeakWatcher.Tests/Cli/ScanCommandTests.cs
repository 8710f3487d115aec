using System.Text.Json;
using LlmSecOps.KeyLeakWatcher.Cli;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace LlmSecOps.KeyLeakWatcher.Tests.Cli;

public sealed class ScanCommandTests
{
    private static readonly IConfiguration NoSettings = new ConfigurationBuilder().Build();

    private static (IAnsiConsole Console, StringWriter Output) Console()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Interactive = InteractionSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 250;
        return (console, output);
    }

    [Fact]
    public async Task AReportOnlyScanThatFindsKeysPrintsThemAndExitsNonZero()
    {
        using var temp = new TempFolder();
        var key = TestKeys.New();
        temp.Write("app/.env", $"A=1\nLSO_KEY={key}\n");
        temp.Write("app/readme", TestKeys.BadChecksum());
        var (console, output) = Console();

        var exit = await ScanCommand.RunAsync(["scan", "directory", temp.Path, "--report-only"], console, NoSettings);

        Assert.Equal(ScanCommand.ActiveKeysFound, exit);
        var text = output.ToString();
        Assert.Contains(key[9..21], text, StringComparison.Ordinal);
        Assert.Contains("1 finding(s)", text, StringComparison.Ordinal);
        Assert.DoesNotContain(key, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JsonOutputNamesEachFindingsPlaceAndOutcome()
    {
        using var temp = new TempFolder();
        var key = TestKeys.New();
        temp.Write("pkg-top/index.js", $"\n\nconst k='{key}'\n");
        Tools.Run(temp.Path, "tar", "-czf", "p.tgz", "pkg-top");
        var (console, output) = Console();

        var exit = await ScanCommand.RunAsync(["scan", "npm", temp.Combine("p.tgz"), "--report-only", "--json"], console, NoSettings);

        Assert.Equal(ScanCommand.ActiveKeysFound, exit);
        var json = output.ToString();
        using var document = JsonDocument.Parse(json[json.IndexOf("{\"bytesScanned\"", StringComparison.Ordinal)..]);
        var finding = Assert.Single(document.RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal("p.tgz!pkg-top/index.js:3", finding.GetProperty("location").GetString());
        Assert.Equal("recorded", finding.GetProperty("outcome").GetString());
        Assert.Equal(LlmSecOps.Contracts.Keys.ApiKey.TokenHash(key), finding.GetProperty("tokenHash").GetString());
    }

    [Fact]
    public async Task ACleanScanExitsZero()
    {
        using var temp = new TempFolder();
        temp.Write("a.txt", $"nothing here but {TestKeys.TamperedSecret()}\n");
        var (console, _) = Console();

        Assert.Equal(ScanCommand.Clean, await ScanCommand.RunAsync(["scan", "dir", temp.Path, "--report-only"], console, NoSettings));
    }

    [Fact]
    public async Task WithoutAControlPlaneOrReportOnlyTheScanRefusesToRun()
    {
        using var temp = new TempFolder();
        var (console, output) = Console();

        var exit = await ScanCommand.RunAsync(["scan", "directory", temp.Path], console, NoSettings);

        Assert.Equal(ScanCommand.Failed, exit);
        Assert.Contains("ControlPlane__BaseUrl", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingTargetFailsWithExitCodeTwo()
    {
        var (console, output) = Console();

        var exit = await ScanCommand.RunAsync(["scan", "image", "/nonexistent/image.tar", "--report-only"], console, NoSettings);

        Assert.Equal(ScanCommand.Failed, exit);
        Assert.Contains("does not exist", output.ToString(), StringComparison.Ordinal);
    }
}

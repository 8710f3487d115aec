using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Sources;

public sealed class NpmPackageSourceTests
{
    [Fact]
    public async Task ATarballWithANonStandardTopFolderIsScannedEntryByEntry()
    {
        using var temp = new TempFolder();
        var key = TestKeys.New();
        temp.Write("my-sdk-1.2.3/package.json", "{\"name\":\"my-sdk\",\"version\":\"1.2.3\"}\n");
        temp.Write("my-sdk-1.2.3/lib/config.js", $"module.exports = {{\n  url: 'http://gw',\n  key: '{key}',\n}};\n");
        temp.Write("my-sdk-1.2.3/README.md", $"Use a key like {TestKeys.BadChecksum()}\n");
        // The real tar CLI (gzip), with a top folder that is not "package/".
        Tools.Run(temp.Path, "tar", "-czf", "my-sdk-1.2.3.tgz", "my-sdk-1.2.3");

        var session = new ScanSession();
        await new NpmPackageSource(temp.Combine("my-sdk-1.2.3.tgz")).ScanAsync(session, null, CancellationToken.None);

        var finding = Assert.Single(session.Findings);
        Assert.Equal("my-sdk-1.2.3.tgz!my-sdk-1.2.3/lib/config.js:3", finding.Location);
        Assert.Equal("npm", finding.SourceKind);
        Assert.Equal(3, session.ItemsScanned);
    }

    [Fact]
    public async Task ATarballMadeByNpmPackIsScanned()
    {
        using var temp = new TempFolder();
        var key = TestKeys.New();
        temp.Write("pkg/package.json", "{\"name\":\"leaky-pkg\",\"version\":\"0.0.1\"}\n");
        temp.Write("pkg/index.js", $"// token\nconst k = \"{key}\";\n");
        var json = Tools.Run(temp.Path, "npm", "pack", "./pkg", "--json", "--ignore-scripts");
        var file = System.Text.Json.JsonDocument.Parse(json).RootElement[0].GetProperty("filename").GetString()!;

        var session = new ScanSession();
        await new NpmPackageSource(temp.Combine(file)).ScanAsync(session, null, CancellationToken.None);

        Assert.Equal($"{file}!package/index.js:2", Assert.Single(session.Findings).Location);
    }

    [Fact]
    public async Task APackageByNameAndVersionIsFetchedThroughTheConfiguredRegistry()
    {
        // A real, tiny package from the registry npm is configured with (CI machines reach the npm registry).
        var session = new ScanSession();
        await new NpmPackageSource("is-number@7.0.0").ScanAsync(session, null, CancellationToken.None);

        Assert.Empty(session.Findings);
        Assert.Empty(session.NotScannedItems);
        Assert.True(session.ItemsScanned >= 3, $"scanned {session.ItemsScanned} entries");
    }
}

using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Sources;

public sealed class DirectorySourceTests
{
    [Fact]
    public async Task KeysInNestedAndBinaryFilesAreFoundAndLookAlikesAreNot()
    {
        using var temp = new TempFolder();
        var text = TestKeys.New();
        var binary = TestKeys.New();
        temp.Write("src/deep/er/settings.json", $"{{\n  \"model\": \"x\",\n  \"key\": \"{text}\"\n}}\n");
        temp.Write("README.md", $"example: {TestKeys.BadChecksum()} and {TestKeys.TamperedSecret()}\n");
        var blob = new byte[300_000];
        new Random(7).NextBytes(blob);
        System.Text.Encoding.ASCII.GetBytes(binary).CopyTo(blob, 150_000);
        Directory.CreateDirectory(temp.Combine("bin"));
        File.WriteAllBytes(temp.Combine("bin/app.dll"), blob);

        var session = new ScanSession { ChunkSize = 4096 };
        await new DirectorySource(temp.Path).ScanAsync(session, null, CancellationToken.None);

        Assert.Equal(2, session.Findings.Count);
        var json = Assert.Single(session.Findings, f => f.KeyId == text[9..21]);
        Assert.Equal(temp.Combine("src/deep/er/settings.json") + ":3", json.Location);
        Assert.Contains(session.Findings, f => f.KeyId == binary[9..21] && f.Location.StartsWith(temp.Combine("bin/app.dll"), StringComparison.Ordinal));
        Assert.Equal(3, session.ItemsScanned);
    }

    [Fact]
    public async Task GzippedTarballsAndGzipFilesInAFolderAreScannedDecompressed()
    {
        using var temp = new TempFolder();
        var inTarball = TestKeys.New();
        var inGzip = TestKeys.New();
        temp.Write("build/app-2.0/conf/prod.env", $"A=1\nLSO_KEY={inTarball}\n");
        Tools.Run(temp.Combine("build"), "tar", "-czf", temp.Combine("app-2.0.tgz"), "app-2.0");
        Directory.CreateDirectory(temp.Combine("tree/releases"));
        File.Move(temp.Combine("app-2.0.tgz"), temp.Combine("tree/releases/app-2.0.tgz"));
        temp.Write("tree/logs/old.log", $"line\nline\nusing {inGzip}\n");
        Tools.Run(temp.Combine("tree/logs"), "gzip", "old.log");
        File.WriteAllBytes(temp.Combine("tree/fake.gz"), [0x1f, 0x8b, .. System.Text.Encoding.ASCII.GetBytes(" not really gzip " + TestKeys.New())]);

        var session = new ScanSession();
        await new DirectorySource(temp.Combine("tree")).ScanAsync(session, null, CancellationToken.None);

        Assert.Equal(temp.Combine("tree/releases/app-2.0.tgz") + "!app-2.0/conf/prod.env:2", Assert.Single(session.Findings, f => f.KeyId == inTarball[9..21]).Location);
        Assert.Equal(temp.Combine("tree/logs/old.log.gz") + "!(gunzip):3", Assert.Single(session.Findings, f => f.KeyId == inGzip[9..21]).Location);
        Assert.Equal(3, session.Findings.Count); // the key in the file that only looks like gzip is found in its raw bytes
    }

    [Fact]
    public async Task SymbolicLinksAreNotFollowedAndGitFoldersAreLeftToTheGitSource()
    {
        using var temp = new TempFolder();
        using var outside = new TempFolder();
        outside.Write("secret.env", TestKeys.New() + "\n");
        Directory.CreateDirectory(temp.Combine("tree"));
        File.CreateSymbolicLink(temp.Combine("tree/link.env"), outside.Combine("secret.env"));
        Directory.CreateSymbolicLink(temp.Combine("tree/linkdir"), outside.Path);
        temp.Write("tree/.git/config", TestKeys.New() + "\n");

        var session = new ScanSession();
        await new DirectorySource(temp.Combine("tree")).ScanAsync(session, null, CancellationToken.None);

        Assert.Empty(session.Findings);
    }

    [Fact]
    public async Task ASecondScanReadsOnlyFilesChangedSince()
    {
        using var temp = new TempFolder();
        var old = temp.Write("old.env", TestKeys.New() + "\n");
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddMinutes(-10));
        var state = await new DirectorySource(temp.Path).ScanAsync(new ScanSession(), null, CancellationToken.None);

        var fresh = TestKeys.New();
        var created = temp.Write("new.env", fresh + "\n");
        File.SetLastWriteTimeUtc(created, DateTime.UtcNow.AddMinutes(1));
        var session = new ScanSession();
        await new DirectorySource(temp.Path).ScanAsync(session, state, CancellationToken.None);

        Assert.Equal(fresh[9..21], Assert.Single(session.Findings).KeyId);
    }
}

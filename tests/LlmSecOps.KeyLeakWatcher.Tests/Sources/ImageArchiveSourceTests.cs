using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Sources;

public sealed class ImageArchiveSourceTests
{
    private static (ImageTarBuilder Builder, string Deleted, string InEnv, string InHistory, string Kept) LeakyImage(string secondLayerCompression = "gzip")
    {
        var deleted = TestKeys.New();
        var inEnv = TestKeys.New();
        var inHistory = TestKeys.New();
        var kept = TestKeys.New();
        var env = string.Concat(Enumerable.Range(1, 11).Select(i => $"SETTING_{i}=value{i}\n")) + $"LSO_API_KEY={deleted}\n";
        var builder = new ImageTarBuilder()
            .Layer(l => l.File("etc/app.env", env).File("etc/hostname", "leaky\n"))
            .Layer(l => l.Whiteout("etc/app.env").File("app/main.py", $"print('hi')\n# {TestKeys.BadChecksum()}\n").File("app/keep.txt", $"\n{kept}\n"), secondLayerCompression)
            .Env($"LSO_KEY={inEnv}")
            .History($"/bin/sh -c curl -H 'Authorization: Bearer {inHistory}' http://gw/v1/models");
        return (builder, deleted, inEnv, inHistory, kept);
    }

    [Fact]
    public async Task TheLegacyDockerSaveLayoutYieldsWhiteoutDeletedEnvAndHistoryKeys()
    {
        using var temp = new TempFolder();
        var (builder, deleted, inEnv, inHistory, kept) = LeakyImage("none");
        var tar = temp.Combine("image.tar");
        builder.WriteLegacy(tar);

        var session = new ScanSession();
        await new ImageArchiveSource(tar).ScanAsync(session, null, CancellationToken.None);

        Assert.Empty(session.NotScannedItems);
        Assert.Equal(4, session.Findings.Count);
        var whiteout = Assert.Single(session.Findings, f => f.KeyId == deleted[9..21]);
        Assert.Equal($"image.tar!layer {builder.LayerDigests[0]}!etc/app.env:12", whiteout.Location);
        Assert.Equal($"deleted by a whiteout in later layer {builder.LayerDigests[1]}", whiteout.Context.Note);
        Assert.Equal($"image.tar!config {builder.ConfigDigest}!config.Env[1]", Assert.Single(session.Findings, f => f.KeyId == inEnv[9..21]).Location);
        Assert.Equal($"image.tar!config {builder.ConfigDigest}!history[2].created_by", Assert.Single(session.Findings, f => f.KeyId == inHistory[9..21]).Location);
        Assert.Equal($"image.tar!layer {builder.LayerDigests[1]}!app/keep.txt:2", Assert.Single(session.Findings, f => f.KeyId == kept[9..21]).Location);
    }

    [Fact]
    public async Task TheOciLayoutWithGzipLayersYieldsEveryKeyOnceEvenWithTheCompatibilityManifest()
    {
        using var temp = new TempFolder();
        var (builder, deleted, inEnv, inHistory, kept) = LeakyImage("gzip");
        var tar = temp.Combine("image.tar");
        builder.WriteOci(tar, withDockerManifest: true);

        var session = new ScanSession();
        await new ImageArchiveSource(tar).ScanAsync(session, null, CancellationToken.None);

        Assert.Empty(session.NotScannedItems);
        Assert.Equal(4, session.Findings.Count);
        var whiteout = Assert.Single(session.Findings, f => f.KeyId == deleted[9..21]);
        Assert.Equal($"image.tar!layer {builder.LayerDigests[0]}!etc/app.env:12", whiteout.Location);
        Assert.StartsWith("deleted by a whiteout", whiteout.Context.Note, StringComparison.Ordinal);
        Assert.Contains(session.Findings, f => f.KeyId == inEnv[9..21] && f.Location.EndsWith("!config.Env[1]", StringComparison.Ordinal));
        Assert.Contains(session.Findings, f => f.KeyId == inHistory[9..21]);
        Assert.Equal($"image.tar!layer {builder.LayerDigests[1]}!app/keep.txt:2", Assert.Single(session.Findings, f => f.KeyId == kept[9..21]).Location);
    }

    [Fact]
    public async Task ImagesBuiltByUmociAndExportedBySkopeoInBothLayoutsYieldWhiteoutDeletedEnvAndHistoryKeys()
    {
        // Real tools (Debian packages umoci and skopeo, offline): a layer adds etc/app.env with a key, the next layer
        // deletes it (umoci writes the whiteout), the config gets a key in Env and in a history entry; skopeo then
        // writes a docker-save (docker-archive) tarball and an OCI archive.
        Tools.Require("umoci", "skopeo");
        using var temp = new TempFolder();
        var deleted = TestKeys.New();
        var inEnv = TestKeys.New();
        var inHistory = TestKeys.New();
        Tools.Run(temp.Path, "umoci", "init", "--layout", "layout");
        Tools.Run(temp.Path, "umoci", "new", "--image", "layout:app");
        Tools.Run(temp.Path, "umoci", "unpack", "--rootless", "--image", "layout:app", "bundle");
        temp.Write("bundle/rootfs/etc/app.env", $"A=1\nLSO_KEY={deleted}\n");
        Tools.Run(temp.Path, "umoci", "repack", "--refresh-bundle", "--image", "layout:app", "bundle");
        File.Delete(temp.Combine("bundle/rootfs/etc/app.env"));
        Tools.Run(temp.Path, "umoci", "repack", "--refresh-bundle", "--image", "layout:app", "bundle");
        Tools.Run(temp.Path, "umoci", "config", "--image", "layout:app", "--config.env", $"LSO_KEY={inEnv}", "--history.created_by", $"/bin/sh -c echo {inHistory} > /dev/null");
        Tools.Run(temp.Path, "skopeo", "copy", "-q", "oci:layout:app", "docker-archive:docker-save.tar:leaky:1");
        Tools.Run(temp.Path, "skopeo", "copy", "-q", "oci:layout:app", "oci-archive:oci.tar");

        foreach (var file in new[] { "docker-save.tar", "oci.tar" })
        {
            var session = new ScanSession();
            await new ImageArchiveSource(temp.Combine(file)).ScanAsync(session, null, CancellationToken.None);

            Assert.Empty(session.NotScannedItems);
            Assert.Equal(3, session.Findings.Count);
            var whiteout = Assert.Single(session.Findings, f => f.KeyId == deleted[9..21]);
            Assert.Matches($@"^{file.Replace(".", @"\.", StringComparison.Ordinal)}!layer sha256:[0-9a-f]{{64}}!etc/app\.env:2$", whiteout.Location);
            Assert.StartsWith("deleted by a whiteout in later layer sha256:", whiteout.Context.Note, StringComparison.Ordinal);
            Assert.Matches(@"!config sha256:[0-9a-f]{64}!config\.Env\[\d\]$", Assert.Single(session.Findings, f => f.KeyId == inEnv[9..21]).Location);
            Assert.Matches(@"!config sha256:[0-9a-f]{64}!history\[\d\]\.created_by$", Assert.Single(session.Findings, f => f.KeyId == inHistory[9..21]).Location);
        }
    }

    [Fact]
    public async Task AZstdLayerIsReportedAsNotScannedInsteadOfSkippedSilently()
    {
        using var temp = new TempFolder();
        var (builder, _, _, _, _) = LeakyImage("zstd");
        var tar = temp.Combine("image.tar");
        builder.WriteOci(tar, withDockerManifest: false);

        var session = new ScanSession();
        await new ImageArchiveSource(tar).ScanAsync(session, null, CancellationToken.None);

        var notScanned = Assert.Single(session.NotScannedItems);
        Assert.Equal($"image.tar!layer {builder.LayerDigests[1]}", notScanned.Location);
        Assert.Contains("zstd", notScanned.Reason, StringComparison.Ordinal);
        Assert.Equal(3, session.Findings.Count); // the other layer and the config are still scanned
    }

    [Fact]
    public async Task AFolderOfImagesIsScannedOnceAndNewImagesOnTheNextRound()
    {
        using var temp = new TempFolder();
        var folder = temp.Combine("images");
        Directory.CreateDirectory(folder);
        LeakyImage().Builder.WriteOci(Path.Combine(folder, "a.tar"));
        var session = new ScanSession();
        var state = await new ImageArchiveSource(folder).ScanAsync(session, null, CancellationToken.None);
        Assert.Equal(4, session.Findings.Count);

        var again = new ScanSession();
        state = await new ImageArchiveSource(folder).ScanAsync(again, state, CancellationToken.None);
        Assert.Empty(again.Findings);

        LeakyImage().Builder.WriteLegacy(Path.Combine(folder, "b.tar"));
        var next = new ScanSession();
        await new ImageArchiveSource(folder).ScanAsync(next, state, CancellationToken.None);
        Assert.Equal(4, next.Findings.Count);
        Assert.All(next.Findings, f => Assert.StartsWith("b.tar!", f.Location, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AMalformedImageInAWatchedFolderIsReportedAndTheOthersAreStillScanned()
    {
        using var temp = new TempFolder();
        var folder = temp.Combine("images");
        temp.Write("bad/manifest.json", "[{\"Config\": 42, \"Layers\": \"nope\"");
        Directory.CreateDirectory(folder);
        Tools.Run(temp.Combine("bad"), "tar", "-cf", Path.Combine(folder, "a-broken.tar"), "manifest.json");
        LeakyImage().Builder.WriteOci(Path.Combine(folder, "b-good.tar"));

        var session = new ScanSession();
        await new ImageArchiveSource(folder).ScanAsync(session, null, CancellationToken.None);

        Assert.Equal("a-broken.tar", Assert.Single(session.NotScannedItems).Location);
        Assert.Equal(4, session.Findings.Count);
    }

    [Fact]
    public async Task ATarballThatIsNotAnImageIsReportedNotScanned()
    {
        using var temp = new TempFolder();
        temp.Write("x/readme.txt", "hello");
        Tools.Run(temp.Path, "tar", "-cf", "notimage.tar", "x");

        var session = new ScanSession();
        await new ImageArchiveSource(temp.Combine("notimage.tar")).ScanAsync(session, null, CancellationToken.None);

        Assert.Contains("notimage.tar", Assert.Single(session.NotScannedItems).Location, StringComparison.Ordinal);
    }
}

using System.Text;
using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Scanning;

public sealed class KeyScannerTests
{
    [Fact]
    public void TheArchitectureTestVectorIsFound()
    {
        var matches = KeyScanner.ScanText($"export LSO_KEY={TestKeys.Vector}\n");

        var match = Assert.Single(matches);
        Assert.Equal(TestKeys.Vector, match.Key);
        Assert.Equal(1, match.Line);
        Assert.Equal(15, match.Offset);
    }

    [Fact]
    public void LookAlikesWithABadChecksumAreNeverReported()
    {
        var text = $"a={TestKeys.BadChecksum()}\nb={TestKeys.TamperedSecret()}\nc=lso_prod_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz\nd=lso_live_";

        Assert.Empty(KeyScanner.ScanText(text));
    }

    [Fact]
    public void KeysNextToEachOtherAndGluedToOtherTextAreAllFound()
    {
        var a = TestKeys.New();
        var b = TestKeys.New();
        var c = TestKeys.New();

        var matches = KeyScanner.ScanText($"{a}{b}\nxyz{c}abc");

        Assert.Equal([a, b, c], matches.Select(m => m.Key));
        Assert.Equal([1L, 1L, 2L], matches.Select(m => m.Line));
    }

    [Fact]
    public async Task AKeySplitAcrossChunkBoundariesIsFoundExactlyOnceAtEveryOffset()
    {
        const int chunk = 128;
        var key = TestKeys.New();
        for (var offset = 0; offset < chunk * 2; offset++)
        {
            var text = new string('x', offset) + "\n" + key + "\n" + new string('y', 7);
            var matches = new List<KeyMatch>();
            await KeyScanner.ScanAsync(new MemoryStream(Encoding.ASCII.GetBytes(text)), matches, CancellationToken.None, chunk);

            var match = Assert.Single(matches);
            Assert.Equal(key, match.Key);
            Assert.Equal(2, match.Line);
            Assert.Equal(offset + 1, match.Offset);
        }
    }

    [Fact]
    public async Task LineNumbersAreRightAcrossManyChunks()
    {
        var keys = Enumerable.Range(0, 20).Select(_ => TestKeys.New()).ToList();
        var builder = new StringBuilder();
        var expected = new List<long>();
        var line = 1;
        for (var i = 0; i < keys.Count; i++)
        {
            for (var j = 0; j < i * 7; j++)
            {
                builder.Append("filler line ").Append(j).Append('\n');
                line++;
            }

            builder.Append("key: ").Append(keys[i]).Append('\n');
            expected.Add(line++);
        }

        var matches = new List<KeyMatch>();
        await KeyScanner.ScanAsync(new MemoryStream(Encoding.ASCII.GetBytes(builder.ToString())), matches, CancellationToken.None, 200);

        Assert.Equal(keys, matches.Select(m => m.Key));
        Assert.Equal(expected, matches.Select(m => m.Line));
    }

    [Fact]
    public async Task AHugeSingleLineAndBinaryNoiseAreScannedInBoundedChunks()
    {
        var key = TestKeys.New();
        var random = new Random(42);
        var noise = new byte[8 * 1024 * 1024];
        random.NextBytes(noise);
        noise.AsSpan().Replace((byte)'\n', (byte)' ');
        var keyBytes = Encoding.ASCII.GetBytes(key);
        keyBytes.CopyTo(noise, noise.Length - 1000);
        "lso_live_"u8.CopyTo(noise.AsSpan(1000));

        var matches = new List<KeyMatch>();
        var read = await KeyScanner.ScanAsync(new MemoryStream(noise), matches, CancellationToken.None);

        Assert.Equal(noise.Length, read);
        var match = Assert.Single(matches);
        Assert.Equal(key, match.Key);
        Assert.Equal(1, match.Line);
        Assert.Equal(noise.Length - 1000, match.Offset);
    }

    [Fact]
    public async Task AKeyEndingAtTheLastByteIsFound()
    {
        var key = TestKeys.New();
        var matches = new List<KeyMatch>();

        await KeyScanner.ScanAsync(new MemoryStream(Encoding.ASCII.GetBytes("ab" + key)), matches, CancellationToken.None, 128);

        Assert.Equal(key, Assert.Single(matches).Key);
    }

    [Fact]
    public void AFindingNeverPrintsTheKey()
    {
        var key = TestKeys.New();
        var finding = new Finding(key, "directory", "/x/y:1");

        Assert.DoesNotContain(key, finding.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(key, new KeyMatch(key, 1, 0).ToString(), StringComparison.Ordinal);
        Assert.Equal(LlmSecOps.Contracts.Keys.ApiKey.TokenHash(key), finding.TokenHash);
    }
}

using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Sources;

public sealed class GitHistorySourceTests
{
    [Fact]
    public async Task AKeyCommittedThenDeletedIsFoundWithItsCommitPathAndAuthor()
    {
        using var temp = new TempFolder();
        var repo = temp.Combine("repo");
        Directory.CreateDirectory(repo);
        Tools.Git(repo, "init", "-q");
        var key = TestKeys.New();
        temp.Write("repo/README.md", "hello\n");
        temp.Write("repo/config/app.env", $"# settings\nMODEL=llama3\nLSO_KEY={key}\n");
        temp.Write("repo/notes.txt", $"{TestKeys.BadChecksum()}\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "add config");
        var introduced = Tools.Git(repo, "rev-parse", "HEAD");
        Tools.Git(repo, "rm", "-q", "config/app.env");
        Tools.Git(repo, "commit", "-q", "-m", "oops, remove the key");
        Assert.False(File.Exists(temp.Combine("repo/config/app.env")));

        var session = new ScanSession();
        await new GitHistorySource(repo).ScanAsync(session, null, CancellationToken.None);

        var finding = Assert.Single(session.Findings);
        Assert.Equal(LlmSecOps.Contracts.Keys.ApiKey.TokenHash(key), finding.TokenHash);
        Assert.Equal($"repo@{introduced}:config/app.env:3", finding.Location);
        Assert.Equal(introduced, finding.Context.Commit);
        Assert.Equal("Test Author <author@example.test>", finding.Context.Author);
        Assert.Equal("config/app.env", finding.Context.Path);
        Assert.Empty(session.NotScannedItems);
    }

    [Fact]
    public async Task KeysOnOtherBranchesAndInCommitMessagesAreFound()
    {
        using var temp = new TempFolder();
        var repo = temp.Path;
        Tools.Git(repo, "init", "-q");
        temp.Write("a.txt", "a\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "first");
        Tools.Git(repo, "checkout", "-q", "-b", "feature");
        var onBranch = TestKeys.New();
        temp.Write("src/client.py", $"import os\n\nKEY = \"{onBranch}\"\n");
        Tools.Git(repo, "add", "-A");
        var inMessage = TestKeys.New();
        Tools.Git(repo, "commit", "-q", "-m", $"try with key {inMessage}");
        var branchCommit = Tools.Git(repo, "rev-parse", "HEAD");
        Tools.Git(repo, "checkout", "-q", "main");

        var session = new ScanSession();
        await new GitHistorySource(repo).ScanAsync(session, null, CancellationToken.None);

        Assert.Equal(2, session.Findings.Count);
        var file = Assert.Single(session.Findings, f => f.KeyId == onBranch[9..21]);
        Assert.EndsWith($"@{branchCommit}:src/client.py:3", file.Location, StringComparison.Ordinal);
        var message = Assert.Single(session.Findings, f => f.KeyId == inMessage[9..21]);
        Assert.Contains($"@{branchCommit}:(commit object)", message.Location, StringComparison.Ordinal);
        Assert.Equal("Test Author <author@example.test>", message.Context.Author);
    }

    [Fact]
    public async Task ASecondScanReadsOnlyCommitsMadeSinceTheFirst()
    {
        using var temp = new TempFolder();
        var repo = temp.Path;
        Tools.Git(repo, "init", "-q");
        var first = TestKeys.New();
        temp.Write("one.env", $"K={first}\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "one");

        var session1 = new ScanSession();
        var state = await new GitHistorySource(repo).ScanAsync(session1, null, CancellationToken.None);
        Assert.Single(session1.Findings);

        var unchanged = new ScanSession();
        await new GitHistorySource(repo).ScanAsync(unchanged, state, CancellationToken.None);
        Assert.Empty(unchanged.Findings);
        Assert.Equal(0, unchanged.ItemsScanned);

        var second = TestKeys.New();
        temp.Write("two.env", $"K={second}\n");
        Tools.Git(repo, "add", "-A");
        Tools.Git(repo, "commit", "-q", "-m", "two");
        var session2 = new ScanSession();
        await new GitHistorySource(repo).ScanAsync(session2, state, CancellationToken.None);

        var finding = Assert.Single(session2.Findings);
        Assert.Equal(second[9..21], finding.KeyId);
    }

    [Fact]
    public async Task ARemoteIsMirroredAndFetchedAgainOnTheNextScan()
    {
        using var temp = new TempFolder();
        var origin = temp.Combine("origin");
        Directory.CreateDirectory(origin);
        Tools.Git(origin, "init", "-q");
        var key = TestKeys.New();
        temp.Write("origin/k.txt", key + "\n");
        Tools.Git(origin, "add", "-A");
        Tools.Git(origin, "commit", "-q", "-m", "k");
        var source = new GitHistorySource("file://" + origin, temp.Combine("mirrors"));

        var session = new ScanSession();
        var state = await source.ScanAsync(session, null, CancellationToken.None);
        Assert.Single(session.Findings);

        var later = TestKeys.New();
        temp.Write("origin/later.txt", later + "\n");
        Tools.Git(origin, "add", "-A");
        Tools.Git(origin, "commit", "-q", "-m", "later");
        var next = new ScanSession();
        await source.ScanAsync(next, state, CancellationToken.None);

        Assert.Equal(later[9..21], Assert.Single(next.Findings).KeyId);
    }
}

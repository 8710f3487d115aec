using System.Text;
using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>
/// Every object reachable from every ref of a git repository (all branches and tags, old commits, files deleted
/// since), read with the git CLI: <c>git rev-list --all --objects</c> lists blobs with the path they were first seen
/// at, <c>git cat-file --batch</c> streams their contents, and for the rare blob that holds a key
/// <c>git log --all --find-object</c> names the commit that introduced it and its author. Commit messages and
/// annotated tags are scanned too. The state is the set of ref tips: the next scan reads only objects not
/// reachable from them. A remote URL is mirrored (<c>git clone --mirror</c>, then <c>git fetch</c>) into
/// <paramref name="mirrorRoot"/>.
/// </summary>
/// <param name="repository">A local repository path (work tree or bare) or a remote URL.</param>
/// <param name="mirrorRoot">Where remote repositories are mirrored. Default: a temp folder.</param>
public sealed class GitHistorySource(string repository, string? mirrorRoot = null) : IScanSource
{
    /// <summary>Commit and tag objects up to this size are read whole (to name their author).</summary>
    private const long MaxObjectInMemory = 16L * 1024 * 1024;

    /// <inheritdoc />
    public string Kind => "git";

    /// <inheritdoc />
    public string Target => repository;

    /// <inheritdoc />
    public async Task<string?> ScanAsync(ScanSession session, string? previousState, CancellationToken cancellationToken)
    {
        var gitDir = await PrepareAsync(cancellationToken);
        var display = DisplayName(repository);
        var tips = (await GitAsync(gitDir, cancellationToken, "for-each-ref", "--format=%(objectname)"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (tips.Count == 0)
        {
            return string.Empty;
        }

        var seen = await ExistingAsync(gitDir, ParseState(previousState), cancellationToken);
        var objects = await ListObjectsAsync(gitDir, seen, cancellationToken);
        await ScanObjectsAsync(session, gitDir, display, objects, cancellationToken);
        return string.Join('\n', tips);
    }

    private async Task<string> PrepareAsync(CancellationToken cancellationToken)
    {
        if (Directory.Exists(repository))
        {
            return Path.GetFullPath(repository);
        }

        if (!repository.Contains("://", StringComparison.Ordinal) && !repository.StartsWith("git@", StringComparison.Ordinal))
        {
            throw new DirectoryNotFoundException($"Git repository '{repository}' does not exist (give a local path or a clone URL).");
        }

        var root = mirrorRoot ?? Path.Combine(Path.GetTempPath(), "llmsecops-watcher-mirrors");
        var name = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(repository)))[..16];
        var mirror = Path.Combine(root, name + ".git");
        if (Directory.Exists(mirror))
        {
            await GitAsync(mirror, cancellationToken, "fetch", "--prune", "--tags", "origin");
        }
        else
        {
            Directory.CreateDirectory(root);
            await ProcessRunner.RunAsync("git", ["clone", "--mirror", "--quiet", "--", repository, mirror], root, cancellationToken);
        }

        return mirror;
    }

    private static List<string> ParseState(string? state) =>
        string.IsNullOrEmpty(state) ? [] : [.. state.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>Previously scanned tips that still exist (a force-push may have dropped some).</summary>
    private static async Task<List<string>> ExistingAsync(string gitDir, List<string> previous, CancellationToken cancellationToken)
    {
        if (previous.Count == 0)
        {
            return previous;
        }

        using var process = ProcessRunner.Start("git", ["-C", gitDir, "cat-file", "--batch-check=%(objectname) %(objecttype)"], gitDir, redirectInput: true);
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        foreach (var sha in previous)
        {
            await process.StandardInput.WriteLineAsync(sha);
        }

        process.StandardInput.Close();
        var lines = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await process.WaitForExitAsync(cancellationToken);
        return [.. lines.Where(l => l.EndsWith(" commit", StringComparison.Ordinal)).Select(l => l[..l.IndexOf(' ', StringComparison.Ordinal)])];
    }

    /// <summary>Objects reachable from every ref and not from <paramref name="exclude"/>, with their first-seen path.</summary>
    private static async Task<List<(string Sha, string? Path)>> ListObjectsAsync(string gitDir, List<string> exclude, CancellationToken cancellationToken)
    {
        using var process = ProcessRunner.Start("git", ["-C", gitDir, "rev-list", "--all", "--objects", "--stdin"], gitDir, redirectInput: true);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var writer = Task.Run(
            async () =>
            {
                foreach (var sha in exclude)
                {
                    await process.StandardInput.WriteLineAsync("^" + sha);
                }

                process.StandardInput.Close();
            },
            cancellationToken);
        var objects = new List<(string, string?)>();
        while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length < 40)
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            objects.Add(space < 0 ? (line, null) : (line[..space], line[(space + 1)..]));
        }

        await writer;
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new ExternalToolException($"git rev-list failed in {gitDir}: {(await stderr).Trim()}");
        }

        return objects;
    }

    private static async Task ScanObjectsAsync(ScanSession session, string gitDir, string display, List<(string Sha, string? Path)> objects, CancellationToken cancellationToken)
    {
        using var process = ProcessRunner.Start("git", ["-C", gitDir, "cat-file", "--batch"], gitDir, redirectInput: true);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        var writer = Task.Run(
            async () =>
            {
                foreach (var (sha, _) in objects)
                {
                    await process.StandardInput.WriteLineAsync(sha);
                }

                process.StandardInput.Close();
            },
            cancellationToken);

        var output = new BufferedStream(process.StandardOutput.BaseStream, 64 * 1024);
        foreach (var (sha, path) in objects)
        {
            var header = await ReadLineAsync(output, cancellationToken)
                ?? throw new ExternalToolException($"git cat-file ended early in {gitDir}: {(await stderr).Trim()}");
            var parts = header.Split(' ');
            if (parts.Length < 3 || !long.TryParse(parts[2], out var size))
            {
                session.ReportNotScanned($"{display}@{sha}", $"git cat-file answered '{header}'");
                continue;
            }

            var type = parts[1];
            var content = new BoundedStream(output, size);
            switch (type)
            {
                case "blob":
                    await session.ScanAsync(content, "git", () => BlobPlaceAsync(gitDir, display, sha, path, cancellationToken), cancellationToken);
                    break;
                case "commit" or "tag" when size <= MaxObjectInMemory:
                    var text = new byte[size];
                    await content.ReadExactlyAsync(text, cancellationToken);
                    await session.ScanAsync(new MemoryStream(text), "git", () => ValueTask.FromResult(CommitPlace(display, sha, type, text)), cancellationToken);
                    break;
                case "commit" or "tag":
                    // Absurdly large commit/tag object: streamed like a blob, without parsing its author.
                    await session.ScanAsync(content, "git", () => ValueTask.FromResult(new FindingPlace($"{display}@{sha}:({type} object)", new FindingContext(Commit: sha))), cancellationToken);
                    break;
                default:
                    break;
            }

            await content.DrainAsync(cancellationToken);
            output.ReadByte(); // the LF after each object
        }

        await writer;
        await process.WaitForExitAsync(cancellationToken);
    }

    private static async ValueTask<FindingPlace> BlobPlaceAsync(string gitDir, string display, string blob, string? path, CancellationToken cancellationToken)
    {
        // Commits that add or remove this blob, oldest first: the first introduced it, a later one may have deleted it.
        var log = await GitAsync(gitDir, cancellationToken, "log", "--all", "--reverse", "--format=%H%x1f%an <%ae>%x1f%aI", "--find-object=" + blob);
        var commits = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (commits.Length == 0)
        {
            return new FindingPlace($"{display}@?:{path ?? blob}", new FindingContext(Path: path, Note: $"blob {blob}"));
        }

        var first = commits[0].Split('\x1f');
        var note = commits.Length > 1 ? $"blob {blob}; changed again in {commits[^1].Split('\x1f')[0]}" : $"blob {blob}";
        return new FindingPlace($"{display}@{first[0]}:{path ?? blob}", new FindingContext(Path: path, Commit: first[0], Author: first.ElementAtOrDefault(1), Note: note));
    }

    private static FindingPlace CommitPlace(string display, string sha, string type, byte[] raw)
    {
        var text = Encoding.UTF8.GetString(raw);
        string? author = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                break;
            }

            if (line.StartsWith("author ", StringComparison.Ordinal) || line.StartsWith("tagger ", StringComparison.Ordinal))
            {
                var end = line.LastIndexOf('>');
                author = end > 7 ? line[7..(end + 1)] : line[7..];
            }
        }

        return new FindingPlace($"{display}@{sha}:({type} object)", new FindingContext(Commit: sha, Author: author, Note: type == "commit" ? "in the commit object (message or headers)" : "in an annotated tag"));
    }

    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var bytes = new List<byte>(64);
        var one = new byte[1];
        while (true)
        {
            var read = await stream.ReadAsync(one, cancellationToken);
            if (read == 0)
            {
                return bytes.Count == 0 ? null : Encoding.UTF8.GetString([.. bytes]);
            }

            if (one[0] == (byte)'\n')
            {
                return Encoding.UTF8.GetString([.. bytes]);
            }

            bytes.Add(one[0]);
        }
    }

    private static Task<string> GitAsync(string gitDir, CancellationToken cancellationToken, params string[] arguments) =>
        ProcessRunner.RunAsync("git", ["-C", gitDir, .. arguments], gitDir, cancellationToken);

    private static string DisplayName(string repository)
    {
        var trimmed = repository.TrimEnd('/', '\\');
        var name = trimmed[(trimmed.LastIndexOfAny(['/', '\\', ':']) + 1)..];
        return name.Length == 0 ? trimmed : name;
    }
}

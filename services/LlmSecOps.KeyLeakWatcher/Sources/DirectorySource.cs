using System.IO.Compression;
using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>
/// Every file under a folder, as raw bytes (binary files included) — gzip files and gzipped tarballs decompressed —
/// without following symbolic links, files scanned in parallel. <c>.git</c>
/// folders are left to <see cref="GitHistorySource"/> (their objects are compressed). The state is the newest
/// modification time seen: the next scan reads only files changed since.
/// </summary>
/// <param name="root">The folder.</param>
public sealed class DirectorySource(string root) : IScanSource
{
    /// <inheritdoc />
    public string Kind => "directory";

    /// <inheritdoc />
    public string Target => root;

    /// <inheritdoc />
    public async Task<string?> ScanAsync(ScanSession session, string? previousState, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(root))
        {
            throw new DirectoryNotFoundException($"Folder '{root}' does not exist.");
        }

        var since = long.TryParse(previousState, out var ticks) ? new DateTime(ticks, DateTimeKind.Utc) : DateTime.MinValue;
        var newest = since;
        var files = new List<FileInfo>();
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = false,
            IgnoreInaccessible = false,
            AttributesToSkip = FileAttributes.ReparsePoint,
            ReturnSpecialDirectories = false,
        };
        var pending = new Stack<DirectoryInfo>([new DirectoryInfo(root)]);
        while (pending.TryPop(out var folder))
        {
            IEnumerable<FileSystemInfo> children;
            try
            {
                children = [.. folder.EnumerateFileSystemInfos("*", options)];
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                session.ReportNotScanned(folder.FullName, ex.Message);
                continue;
            }

            foreach (var child in children)
            {
                if (child is DirectoryInfo directory)
                {
                    if (directory.Name != ".git")
                    {
                        pending.Push(directory);
                    }
                }
                else if (child is FileInfo file && file.LastWriteTimeUtc > since)
                {
                    newest = file.LastWriteTimeUtc > newest ? file.LastWriteTimeUtc : newest;
                    files.Add(file);
                }
            }
        }

        // Files are independent: scan them on every core (the session and the finding handler are thread-safe).
        await Parallel.ForEachAsync(
            files,
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (file, ct) =>
            {
                try
                {
                    await using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
                    var relative = Path.GetRelativePath(root, file.FullName);
                    if (Archives.Detect(stream) != Compression.Gzip || !await TryScanGzipAsync(stream, file.FullName, relative, session, ct))
                    {
                        stream.Position = 0;
                        await session.ScanAsync(stream, Kind, () => ValueTask.FromResult(new FindingPlace(file.FullName, new FindingContext(Path: relative))), ct);
                    }
                }
                catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
                {
                    session.ReportNotScanned(file.FullName, ex.Message);
                }
            });

        return newest.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A gzip file (release <c>.tgz</c>, <c>.gz</c> logs and dumps) is scanned decompressed: a tarball entry by entry
    /// (<c>file.tgz!entry:line</c>), anything else as one stream (<c>file.gz!(gunzip):line</c>). False when the
    /// content turns out not to be valid gzip, so the caller scans the raw bytes instead.
    /// </summary>
    private async Task<bool> TryScanGzipAsync(FileStream stream, string fullName, string relative, ScanSession session, CancellationToken cancellationToken)
    {
        try
        {
            // Peek at the first tar header ("ustar" magic at offset 257) of the decompressed content.
            var header = new byte[512];
            int peeked;
            await using (var peek = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true))
            {
                peeked = await peek.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken);
            }

            stream.Position = 0;
            await using var gzip = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            if (peeked == header.Length && header.AsSpan(257, 5).SequenceEqual("ustar"u8))
            {
                await Archives.ScanTarAsync(gzip, session, Kind, name => new FindingPlace($"{fullName}!{name}", new FindingContext(Path: $"{relative}!{name}")), null, cancellationToken);
            }
            else
            {
                await session.ScanAsync(gzip, Kind, () => ValueTask.FromResult(new FindingPlace($"{fullName}!(gunzip)", new FindingContext(Path: relative))), cancellationToken);
            }

            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
        {
            return false;
        }
    }
}

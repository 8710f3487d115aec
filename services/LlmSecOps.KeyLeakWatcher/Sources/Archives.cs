using System.Formats.Tar;
using System.IO.Compression;
using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>How an archive or layer is compressed, told by its magic bytes (never by its name or media type alone).</summary>
public enum Compression
{
    /// <summary>No compression (a plain tar, or not an archive).</summary>
    None,

    /// <summary>gzip (RFC 1952): read with <see cref="GZipStream"/>.</summary>
    Gzip,

    /// <summary>Zstandard (RFC 8878): no decompressor is available here, reported as not scanned.</summary>
    Zstd,

    /// <summary>bzip2: not supported, reported as not scanned.</summary>
    Bzip2,

    /// <summary>xz: not supported, reported as not scanned.</summary>
    Xz,
}

/// <summary>Tar and compression helpers shared by the npm and image sources.</summary>
internal static class Archives
{
    /// <summary>Peeks at the first bytes of a seekable stream and puts the position back.</summary>
    public static Compression Detect(Stream seekable)
    {
        Span<byte> magic = stackalloc byte[6];
        var start = seekable.Position;
        var read = seekable.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
        seekable.Position = start;
        magic = magic[..read];
        if (magic.StartsWith(stackalloc byte[] { 0x1f, 0x8b }))
        {
            return Compression.Gzip;
        }

        if (magic.StartsWith(stackalloc byte[] { 0x28, 0xb5, 0x2f, 0xfd }))
        {
            return Compression.Zstd;
        }

        if (magic.StartsWith("BZh"u8))
        {
            return Compression.Bzip2;
        }

        return magic.StartsWith(stackalloc byte[] { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 }) ? Compression.Xz : Compression.None;
    }

    /// <summary>
    /// Scans every regular file of a tar stream (already decompressed). <paramref name="onEntry"/> sees every entry
    /// name first (the image source uses it to collect whiteouts); <paramref name="place"/> turns a file name into
    /// the finding place.
    /// </summary>
    public static async Task ScanTarAsync(
        Stream tar,
        ScanSession session,
        string sourceKind,
        Func<string, FindingPlace> place,
        Action<string>? onEntry,
        CancellationToken cancellationToken)
    {
        await using var reader = new TarReader(tar, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            var name = NormalizeName(entry.Name);
            onEntry?.Invoke(name);
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile) || entry.DataStream is null)
            {
                continue;
            }

            await session.ScanAsync(entry.DataStream, sourceKind, () => ValueTask.FromResult(place(name)), cancellationToken);
        }
    }

    /// <summary>Opens a seekable archive for reading as a decompressed tar, or says why it cannot.</summary>
    public static Stream? OpenTar(Stream seekable, out string? unsupported)
    {
        unsupported = null;
        switch (Detect(seekable))
        {
            case Compression.Gzip:
                return new GZipStream(seekable, CompressionMode.Decompress, leaveOpen: true);
            case Compression.None:
                return seekable;
            case Compression.Zstd:
                unsupported = "zstd-compressed: no zstd decompressor is available to this service";
                return null;
            case Compression.Bzip2:
                unsupported = "bzip2-compressed: not supported";
                return null;
            default:
                unsupported = "xz-compressed: not supported";
                return null;
        }
    }

    /// <summary>Tar names without a leading <c>./</c> or <c>/</c>.</summary>
    public static string NormalizeName(string name)
    {
        while (name.StartsWith("./", StringComparison.Ordinal))
        {
            name = name[2..];
        }

        return name.TrimStart('/');
    }
}

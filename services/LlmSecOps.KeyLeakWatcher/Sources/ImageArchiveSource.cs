using System.Formats.Tar;
using System.Text.Json;
using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>
/// A Docker/OCI image tarball as <c>docker save</c> writes it — the legacy layout (<c>manifest.json</c> naming a
/// config and layer tars) and the OCI image layout (<c>index.json</c>, <c>blobs/sha256/</c>; Docker 25+ writes both,
/// each layer is read once) — or a folder of such tarballs (watch mode; the state is the set of image config
/// digests already scanned). Every layer is scanned, including files that later layers delete with whiteouts
/// (layers are read top-down so a finding can say it was deleted or overwritten later); gzip layers are
/// decompressed; the image config's <c>Env</c>, history <c>created_by</c> and labels are scanned. A layer that
/// cannot be read (zstd, missing blob) is reported as not scanned.
/// </summary>
/// <param name="path">An image tarball or a folder of them (<c>*.tar</c>).</param>
public sealed class ImageArchiveSource(string path) : IScanSource
{
    private const string OciIndex = "application/vnd.oci.image.index.v1+json";
    private const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>Largest manifest, index or config read into memory; a bigger one is reported, not loaded.</summary>
    private const long MaxJsonBytes = 64L * 1024 * 1024;

    /// <inheritdoc />
    public string Kind => "image";

    /// <inheritdoc />
    public string Target => path;

    /// <inheritdoc />
    public async Task<string?> ScanAsync(ScanSession session, string? previousState, CancellationToken cancellationToken)
    {
        if (File.Exists(path))
        {
            await ScanImageSafelyAsync(path, session, null, cancellationToken);
            return null;
        }

        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"Image tarball or folder '{path}' does not exist.");
        }

        var scanned = previousState is null ? [] : JsonSerializer.Deserialize<HashSet<string>>(previousState) ?? [];
        foreach (var file in Directory.EnumerateFiles(path, "*.tar").Order(StringComparer.Ordinal))
        {
            await ScanImageSafelyAsync(file, session, scanned, cancellationToken);
        }

        return JsonSerializer.Serialize(scanned.Order(StringComparer.Ordinal));
    }

    /// <summary>A malformed tarball is reported as not scanned and does not stop the other images of a folder.</summary>
    private static async Task ScanImageSafelyAsync(string file, ScanSession session, HashSet<string>? skip, CancellationToken cancellationToken)
    {
        try
        {
            await ScanImageAsync(file, session, skip, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidDataException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException or EndOfStreamException)
        {
            session.ReportNotScanned(Path.GetFileName(file), $"not a readable image tarball: {ex.Message}");
        }
    }

    /// <summary>Scans one image tarball; images whose config digest is in <paramref name="skip"/> are not read again.</summary>
    private static async Task ScanImageAsync(string file, ScanSession session, HashSet<string>? skip, CancellationToken cancellationToken)
    {
        var display = Path.GetFileName(file);
        await using var stream = File.OpenRead(file);
        // Seekable archive: each entry's DataStream stays readable (it seeks) while the reader is alive.
        await using var reader = new TarReader(stream, leaveOpen: true);
        var entries = await IndexAsync(reader, cancellationToken);
        var images = new List<ImageManifest>();
        if (entries.ContainsKey("index.json"))
        {
            await ReadOciIndexAsync(entries, "index.json", images, display, session, cancellationToken);
        }

        if (entries.TryGetValue("manifest.json", out var legacy))
        {
            ReadLegacyManifest(await ReadJsonAsync(legacy, cancellationToken), images);
        }

        if (images.Count == 0)
        {
            session.ReportNotScanned(display, "neither manifest.json nor index.json names an image: not a docker-save/OCI tarball");
            return;
        }

        for (var i = 0; i < images.Count; i++)
        {
            if (images[i].Layers.Any(l => l.Digest is null) && entries.TryGetValue(images[i].ConfigPath, out var configEntry))
            {
                // The legacy layout names layers by folder; the config's rootfs.diff_ids give their real digests.
                images[i].DiffIds.AddRange(await DiffIdsAsync(configEntry, cancellationToken));
            }
        }

        var layersDone = new HashSet<string>(StringComparer.Ordinal);
        var configsDone = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (skip is not null && !skip.Add(image.ConfigDigest ?? image.ConfigPath))
            {
                continue;
            }

            if (configsDone.Add(image.ConfigPath))
            {
                await ScanConfigAsync(entries, image, display, session, cancellationToken);
            }

            await ScanLayersAsync(entries, image, display, layersDone, session, cancellationToken);
        }
    }

    private static async Task ScanLayersAsync(Dictionary<string, Entry> entries, ImageManifest image, string display, HashSet<string> layersDone, ScanSession session, CancellationToken cancellationToken)
    {
        // Top-down, remembering what upper layers delete (whiteouts), hide (opaque folders) or overwrite.
        var deleted = new Dictionary<string, string>(StringComparer.Ordinal);
        var opaque = new Dictionary<string, string>(StringComparer.Ordinal);
        var written = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = image.Layers.Count - 1; i >= 0; i--)
        {
            var layer = image.Layers[i];
            var name = layer.Digest ?? (i < image.DiffIds.Count ? image.DiffIds[i] : layer.Path);
            var location = $"{display}!layer {name}";
            if (!entries.TryGetValue(layer.Path, out var entry))
            {
                session.ReportNotScanned(location, $"layer blob {layer.Path} is missing from the archive");
                continue;
            }

            if (layer.MediaType?.Contains("zstd", StringComparison.Ordinal) == true)
            {
                session.ReportNotScanned(location, $"zstd-compressed layer ({layer.MediaType}): no zstd decompressor is available to this service");
                continue;
            }

            var data = entry.Rewound();
            var tar = Archives.OpenTar(data, out var unsupported);
            if (tar is null)
            {
                session.ReportNotScanned(location, unsupported!);
                continue;
            }

            var here = new List<string>();
            var alreadyScanned = !layersDone.Add(layer.Path);
            try
            {
                // An uncompressed layer is the archive entry itself: leave it open for other images sharing it.
                await using (ReferenceEquals(tar, data) ? null : tar)
                {
                    if (alreadyScanned)
                    {
                        // Shared with an image scanned before in this archive: only collect its names.
                        await using var reader = new TarReader(tar, leaveOpen: true);
                        while (await reader.GetNextEntryAsync(false, cancellationToken) is { } e)
                        {
                            here.Add(Archives.NormalizeName(e.Name));
                        }
                    }
                    else
                    {
                        await Archives.ScanTarAsync(
                            tar,
                            session,
                            "image",
                            file => new FindingPlace($"{location}!{file}", new FindingContext(Path: file, Note: Fate(file, deleted, opaque, written))),
                            here.Add,
                            cancellationToken);
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
            {
                session.ReportNotScanned(location, $"unreadable layer: {ex.Message}");
            }

            foreach (var file in here)
            {
                var folder = file.Contains('/', StringComparison.Ordinal) ? file[..file.LastIndexOf('/')] : string.Empty;
                var leaf = file[(file.LastIndexOf('/') + 1)..];
                if (leaf == ".wh..wh..opq")
                {
                    opaque.TryAdd(folder, name);
                }
                else if (leaf.StartsWith(".wh.", StringComparison.Ordinal))
                {
                    deleted.TryAdd(folder.Length == 0 ? leaf[4..] : $"{folder}/{leaf[4..]}", name);
                }
                else
                {
                    written.TryAdd(file.TrimEnd('/'), name);
                }
            }
        }
    }

    /// <summary>Whether an upper layer deleted or replaced <paramref name="file"/>.</summary>
    private static string? Fate(string file, Dictionary<string, string> deleted, Dictionary<string, string> opaque, Dictionary<string, string> written)
    {
        for (var path = file; path.Length > 0; path = path.Contains('/', StringComparison.Ordinal) ? path[..path.LastIndexOf('/')] : string.Empty)
        {
            if (deleted.TryGetValue(path, out var layer))
            {
                return $"deleted by a whiteout in later layer {layer}";
            }

            if (path != file && opaque.TryGetValue(path, out layer))
            {
                return $"hidden by an opaque folder in later layer {layer}";
            }
        }

        return written.TryGetValue(file, out var by) ? $"overwritten in later layer {by}" : null;
    }

    private static async Task ScanConfigAsync(Dictionary<string, Entry> entries, ImageManifest image, string display, ScanSession session, CancellationToken cancellationToken)
    {
        var configName = image.ConfigDigest ?? image.ConfigPath;
        var location = $"{display}!config {configName}";
        if (!entries.TryGetValue(image.ConfigPath, out var entry))
        {
            session.ReportNotScanned(location, $"config blob {image.ConfigPath} is missing from the archive");
            return;
        }

        if (entry.Data.Length > MaxJsonBytes)
        {
            session.ReportNotScanned(location, $"config is {entry.Data.Length} bytes, more than the {MaxJsonBytes} bytes read into memory");
            return;
        }

        var raw = new byte[entry.Data.Length];
        await entry.Rewound().ReadExactlyAsync(raw, cancellationToken);
        var structured = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using var config = JsonDocument.Parse(raw);
            foreach (var section in new[] { "config", "container_config" })
            {
                if (config.RootElement.TryGetProperty(section, out var c) && c.ValueKind == JsonValueKind.Object)
                {
                    await ScanStringsAsync(c, "Env", $"{location}!{section}.Env", structured, session, cancellationToken);
                    await ScanStringsAsync(c, "Cmd", $"{location}!{section}.Cmd", structured, session, cancellationToken);
                    await ScanStringsAsync(c, "Entrypoint", $"{location}!{section}.Entrypoint", structured, session, cancellationToken);
                    if (c.TryGetProperty("Labels", out var labels) && labels.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var label in labels.EnumerateObject())
                        {
                            await ScanValueAsync(label.Value.ToString(), $"{location}!{section}.Labels[{label.Name}]", structured, session, cancellationToken);
                        }
                    }
                }
            }

            if (config.RootElement.TryGetProperty("history", out var history) && history.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var step in history.EnumerateArray())
                {
                    if (step.TryGetProperty("created_by", out var createdBy))
                    {
                        await ScanValueAsync(createdBy.ToString(), $"{location}!history[{i}].created_by", structured, session, cancellationToken);
                    }

                    i++;
                }
            }
        }
        catch (JsonException ex)
        {
            session.ReportNotScanned(location, $"config is not JSON ({ex.Message}); scanned as raw bytes");
        }

        // Anything elsewhere in the config (comments, other fields) that the structured pass did not already name.
        foreach (var match in KeyScanner.ScanText(System.Text.Encoding.UTF8.GetString(raw)))
        {
            if (!structured.Contains(match.Key))
            {
                await session.ReportAsync(new Finding(match.Key, "image", $"{location}:{match.Line}"), cancellationToken);
            }
        }
    }

    private static async Task ScanStringsAsync(JsonElement parent, string property, string location, HashSet<string> found, ScanSession session, CancellationToken cancellationToken)
    {
        if (!parent.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            await ScanValueAsync(item.ToString(), $"{location}[{i++}]", found, session, cancellationToken);
        }
    }

    private static async Task ScanValueAsync(string value, string location, HashSet<string> found, ScanSession session, CancellationToken cancellationToken)
    {
        foreach (var match in KeyScanner.ScanText(value))
        {
            found.Add(match.Key);
            await session.ReportAsync(new Finding(match.Key, "image", location), cancellationToken);
        }
    }

    private static async Task ReadOciIndexAsync(Dictionary<string, Entry> entries, string indexPath, List<ImageManifest> images, string display, ScanSession session, CancellationToken cancellationToken)
    {
        using var index = await ReadJsonAsync(entries[indexPath], cancellationToken);
        if (!index.RootElement.TryGetProperty("manifests", out var manifests))
        {
            return;
        }

        foreach (var descriptor in manifests.EnumerateArray())
        {
            var digest = descriptor.GetProperty("digest").GetString()!;
            var blob = BlobPath(digest);
            var mediaType = descriptor.TryGetProperty("mediaType", out var m) ? m.GetString() : null;
            if (!entries.TryGetValue(blob, out var entry))
            {
                session.ReportNotScanned($"{display}!manifest {digest}", "manifest blob is missing from the archive (e.g. a platform not saved)");
                continue;
            }

            if (mediaType is OciIndex or DockerManifestList)
            {
                await ReadOciIndexAsync(entries, blob, images, display, session, cancellationToken);
                continue;
            }

            using var manifest = await ReadJsonAsync(entry, cancellationToken);
            var root = manifest.RootElement;
            if (root.TryGetProperty("manifests", out _))
            {
                await ReadOciIndexAsync(entries, blob, images, display, session, cancellationToken);
                continue;
            }

            if (!root.TryGetProperty("config", out var config) || !root.TryGetProperty("layers", out var layers))
            {
                continue;
            }

            var configDigest = config.GetProperty("digest").GetString()!;
            images.Add(new ImageManifest(
                BlobPath(configDigest),
                configDigest,
                [.. layers.EnumerateArray().Select(l => new Layer(
                    BlobPath(l.GetProperty("digest").GetString()!),
                    l.GetProperty("digest").GetString(),
                    l.TryGetProperty("mediaType", out var t) ? t.GetString() : null))],
                []));
        }
    }

    private static void ReadLegacyManifest(JsonDocument manifest, List<ImageManifest> images)
    {
        using (manifest)
        {
            foreach (var image in manifest.RootElement.EnumerateArray())
            {
                var configPath = Archives.NormalizeName(image.GetProperty("Config").GetString()!);
                if (images.Any(i => i.ConfigPath == configPath))
                {
                    continue; // Docker 25+ writes both layouts for the same image.
                }

                var layers = image.GetProperty("Layers").EnumerateArray().Select(l => Archives.NormalizeName(l.GetString()!)).ToList();
                images.Add(new ImageManifest(
                    configPath,
                    LegacyConfigDigest(configPath),
                    [.. layers.Select(l => new Layer(l, l.StartsWith("blobs/sha256/", StringComparison.Ordinal) ? "sha256:" + l[13..] : null, null))],
                    []));
            }
        }
    }

    /// <summary>Reads the outer tar's headers once, keeping each file's seekable data stream.</summary>
    private static async Task<Dictionary<string, Entry>> IndexAsync(TarReader reader, CancellationToken cancellationToken)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        while (await reader.GetNextEntryAsync(false, cancellationToken) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { CanSeek: true } data)
            {
                entries[Archives.NormalizeName(entry.Name)] = new Entry(data);
            }
        }

        return entries;
    }

    private static async Task<JsonDocument> ReadJsonAsync(Entry entry, CancellationToken cancellationToken)
    {
        if (entry.Data.Length > MaxJsonBytes)
        {
            throw new InvalidDataException($"An image manifest or index of {entry.Data.Length} bytes is larger than {MaxJsonBytes} bytes.");
        }

        var bytes = new byte[entry.Data.Length];
        await entry.Rewound().ReadExactlyAsync(bytes, cancellationToken);
        return JsonDocument.Parse(bytes);
    }

    private static async Task<List<string>> DiffIdsAsync(Entry entry, CancellationToken cancellationToken)
    {
        try
        {
            using var config = await ReadJsonAsync(entry, cancellationToken);
            return config.RootElement.TryGetProperty("rootfs", out var rootfs) && rootfs.TryGetProperty("diff_ids", out var ids)
                ? [.. ids.EnumerateArray().Select(i => i.GetString() ?? string.Empty)]
                : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary><c>blobs/sha256/&lt;hex&gt;</c> (Docker 25+) or <c>&lt;hex&gt;.json</c> (older docker save) name the config by its digest.</summary>
    private static string? LegacyConfigDigest(string configPath)
    {
        if (configPath.StartsWith("blobs/sha256/", StringComparison.Ordinal))
        {
            return "sha256:" + configPath[13..];
        }

        return configPath.Length == 69 && configPath.EndsWith(".json", StringComparison.Ordinal) ? "sha256:" + configPath[..64] : null;
    }

    private static string BlobPath(string digest)
    {
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        return $"blobs/{digest[..colon]}/{digest[(colon + 1)..]}";
    }

    private readonly record struct Entry(Stream Data)
    {
        /// <summary>The entry's data from its start.</summary>
        public Stream Rewound()
        {
            Data.Position = 0;
            return Data;
        }
    }

    private sealed record Layer(string Path, string? Digest, string? MediaType);

    private sealed record ImageManifest(string ConfigPath, string? ConfigDigest, List<Layer> Layers, List<string> DiffIds);
}

using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

/// <summary>
/// Writes image tarballs byte-for-byte in the layouts <c>docker save</c> produces — written here because no
/// container engine runs on these machines. Legacy (Docker &lt; 25): <c>manifest.json</c>, <c>&lt;id&gt;.json</c>
/// config, <c>&lt;layer-id&gt;/layer.tar</c> + <c>VERSION</c> + <c>json</c>, <c>repositories</c>. OCI (Docker 25+):
/// <c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/&lt;digest&gt;</c> for manifest, config and layers, plus the
/// compatibility <c>manifest.json</c> pointing at the same blobs. Layers are real tars (whiteouts as
/// <c>.wh.&lt;name&gt;</c> entries), optionally gzip- or zstd-marked.
/// </summary>
internal sealed class ImageTarBuilder
{
    private readonly List<LayerSpec> _layers = [];
    private readonly List<string> _env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"];
    private readonly List<string> _history = [];

    public ImageTarBuilder Layer(Action<LayerSpec> build, string compression = "none")
    {
        var layer = new LayerSpec(compression);
        build(layer);
        _layers.Add(layer);
        _history.Add($"/bin/sh -c #(nop) COPY dir:{_layers.Count} in /");
        return this;
    }

    public ImageTarBuilder Env(string value)
    {
        _env.Add(value);
        return this;
    }

    public ImageTarBuilder History(string createdBy)
    {
        _history.Add(createdBy);
        return this;
    }

    /// <summary>The layer digests used in locations: compressed blob digest (OCI) or diff_id (legacy).</summary>
    public List<string> LayerDigests { get; } = [];

    public string ConfigDigest { get; private set; } = string.Empty;

    public void WriteLegacy(string path)
    {
        var tars = _layers.Select(l => l.BuildTar()).ToList();
        var diffIds = tars.Select(Digest).ToList();
        var config = Encoding.UTF8.GetBytes(Config(diffIds));
        ConfigDigest = Digest(config);
        LayerDigests.Clear();
        LayerDigests.AddRange(diffIds);
        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Ustar);
        var layerIds = new List<string>();
        string? parent = null;
        for (var i = 0; i < tars.Count; i++)
        {
            var id = Hex(SHA256.HashData(Encoding.UTF8.GetBytes(diffIds[i] + parent)));
            layerIds.Add(id);
            AddDirectory(writer, id + "/");
            Add(writer, $"{id}/VERSION", "1.0"u8.ToArray());
            Add(writer, $"{id}/json", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { id, parent })));
            Add(writer, $"{id}/layer.tar", tars[i]);
            parent = id;
        }

        Add(writer, $"{ConfigDigest[7..]}.json", config);
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = $"{ConfigDigest[7..]}.json",
            ["RepoTags"] = new JsonArray("leaky:1"),
            ["Layers"] = new JsonArray([.. layerIds.Select(id => (JsonNode)$"{id}/layer.tar")]),
        });
        Add(writer, "manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        Add(writer, "repositories", Encoding.UTF8.GetBytes($"{{\"leaky\":{{\"1\":\"{layerIds[^1]}\"}}}}"));
    }

    public void WriteOci(string path, bool withDockerManifest = true)
    {
        var tars = _layers.Select(l => l.BuildTar()).ToList();
        var blobs = _layers.Select((l, i) => l.Compress(tars[i])).ToList();
        var config = Encoding.UTF8.GetBytes(Config([.. tars.Select(Digest)]));
        ConfigDigest = Digest(config);
        LayerDigests.Clear();
        LayerDigests.AddRange(blobs.Select(Digest));
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = ConfigDigest, ["size"] = config.Length },
            ["layers"] = new JsonArray([.. _layers.Select((l, i) => (JsonNode)new JsonObject
            {
                ["mediaType"] = l.MediaType,
                ["digest"] = LayerDigests[i],
                ["size"] = blobs[i].Length,
            })]),
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDigest = Digest(manifestBytes);
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.index.v1+json",
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = manifestDigest,
                ["size"] = manifestBytes.Length,
                ["annotations"] = new JsonObject { ["io.containerd.image.name"] = "docker.io/library/leaky:1", ["org.opencontainers.image.ref.name"] = "1" },
            }),
        };

        using var file = File.Create(path);
        using var writer = new TarWriter(file, TarEntryFormat.Pax);
        AddDirectory(writer, "blobs/");
        AddDirectory(writer, "blobs/sha256/");
        for (var i = 0; i < blobs.Count; i++)
        {
            Add(writer, "blobs/sha256/" + LayerDigests[i][7..], blobs[i]);
        }

        Add(writer, "blobs/sha256/" + ConfigDigest[7..], config);
        Add(writer, "blobs/sha256/" + manifestDigest[7..], manifestBytes);
        Add(writer, "index.json", Encoding.UTF8.GetBytes(index.ToJsonString()));
        if (withDockerManifest)
        {
            var legacy = new JsonArray(new JsonObject
            {
                ["Config"] = "blobs/sha256/" + ConfigDigest[7..],
                ["RepoTags"] = new JsonArray("leaky:1"),
                ["Layers"] = new JsonArray([.. LayerDigests.Select(d => (JsonNode)("blobs/sha256/" + d[7..]))]),
            });
            Add(writer, "manifest.json", Encoding.UTF8.GetBytes(legacy.ToJsonString()));
        }

        Add(writer, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"u8.ToArray());
    }

    private string Config(List<string> diffIds)
    {
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["created"] = "2026-11-22T00:00:00Z",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray([.. _env.Select(e => (JsonNode)e)]),
                ["Cmd"] = new JsonArray("/bin/sh"),
                ["WorkingDir"] = "/app",
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. diffIds.Select(d => (JsonNode)d)]) },
            ["history"] = new JsonArray([.. _history.Select(h => (JsonNode)new JsonObject { ["created"] = "2026-11-22T00:00:00Z", ["created_by"] = h })]),
        };
        return config.ToJsonString();
    }

    private static void Add(TarWriter writer, string name, byte[] data)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), ModificationTime = DateTimeOffset.UnixEpoch };
        writer.WriteEntry(entry);
    }

    private static void AddDirectory(TarWriter writer, string name) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name) { ModificationTime = DateTimeOffset.UnixEpoch });

    private static string Digest(byte[] data) => "sha256:" + Hex(SHA256.HashData(data));

    private static string Hex(byte[] data) => Convert.ToHexStringLower(data);

    /// <summary>One layer's files, folders and whiteouts.</summary>
    internal sealed class LayerSpec(string compression)
    {
        private readonly List<(string Name, byte[]? Data)> _entries = [];

        public string MediaType => compression switch
        {
            "gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
            "zstd" => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        };

        public LayerSpec File(string path, string content)
        {
            var folder = path.Contains('/', StringComparison.Ordinal) ? path[..(path.LastIndexOf('/') + 1)] : null;
            if (folder is not null && !_entries.Any(e => e.Name == folder))
            {
                _entries.Add((folder, null));
            }

            _entries.Add((path, Encoding.UTF8.GetBytes(content)));
            return this;
        }

        /// <summary>Deletes <paramref name="path"/> from lower layers (an empty <c>.wh.&lt;name&gt;</c> file).</summary>
        public LayerSpec Whiteout(string path)
        {
            var slash = path.LastIndexOf('/');
            return File(slash < 0 ? ".wh." + path : $"{path[..(slash + 1)]}.wh.{path[(slash + 1)..]}", string.Empty);
        }

        public byte[] BuildTar()
        {
            using var buffer = new MemoryStream();
            using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (var (name, data) in _entries)
                {
                    if (data is null)
                    {
                        AddDirectory(writer, name);
                    }
                    else
                    {
                        Add(writer, name, data);
                    }
                }
            }

            return buffer.ToArray();
        }

        public byte[] Compress(byte[] tar)
        {
            switch (compression)
            {
                case "gzip":
                    using (var buffer = new MemoryStream())
                    {
                        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
                        {
                            gzip.Write(tar);
                        }

                        return buffer.ToArray();
                    }

                case "zstd":
                    // A zstd frame header followed by opaque bytes: the watcher never decompresses zstd, it must report it.
                    return [0x28, 0xb5, 0x2f, 0xfd, .. tar];
                default:
                    return tar;
            }
        }
    }
}

using System.Text.Json;
using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>
/// An npm package: a local tarball (<c>.tgz</c>, whatever its top folder is called), or a package fetched from
/// the registry npm is configured with — <c>name@version</c> is fetched with <c>npm pack</c>; a bare <c>name</c>
/// (watch mode) lists the published versions with <c>npm view</c> and fetches those not scanned before (the state is
/// the list of versions scanned).
/// </summary>
/// <param name="spec">A tarball path, <c>name@version</c> or <c>name</c>.</param>
/// <param name="npm">The npm executable. Default: <c>npm</c> on PATH.</param>
public sealed class NpmPackageSource(string spec, string npm = "npm") : IScanSource
{
    /// <inheritdoc />
    public string Kind => "npm";

    /// <inheritdoc />
    public string Target => spec;

    /// <summary>Scans one tarball; findings are at <c>{display}!{entry}:{line}</c>.</summary>
    public static async Task ScanTarballAsync(string path, string display, ScanSession session, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(path);
        var tar = Archives.OpenTar(file, out var unsupported);
        if (tar is null)
        {
            session.ReportNotScanned(display, unsupported!);
            return;
        }

        await using (tar)
        {
            await Archives.ScanTarAsync(tar, session, "npm", name => new FindingPlace($"{display}!{name}", new FindingContext(Path: name)), null, cancellationToken);
        }
    }

    /// <inheritdoc />
    public async Task<string?> ScanAsync(ScanSession session, string? previousState, CancellationToken cancellationToken)
    {
        if (File.Exists(spec))
        {
            await ScanTarballAsync(spec, Path.GetFileName(spec), session, cancellationToken);
            return null;
        }

        var versionAt = spec.LastIndexOf('@');
        if (versionAt > 0)
        {
            await FetchAndScanAsync(spec, session, cancellationToken);
            return null;
        }

        var scanned = previousState is null ? [] : JsonSerializer.Deserialize<List<string>>(previousState) ?? [];
        var published = await PublishedVersionsAsync(cancellationToken);
        foreach (var version in published.Where(v => !scanned.Contains(v)))
        {
            await FetchAndScanAsync($"{spec}@{version}", session, cancellationToken);
            scanned.Add(version);
        }

        return JsonSerializer.Serialize(scanned);
    }

    private async Task<List<string>> PublishedVersionsAsync(CancellationToken cancellationToken)
    {
        var json = await ProcessRunner.RunAsync(npm, ["view", spec, "versions", "--json"], null, cancellationToken);
        using var document = JsonDocument.Parse(json);
        return document.RootElement.ValueKind == JsonValueKind.Array
            ? [.. document.RootElement.EnumerateArray().Select(v => v.GetString()!)]
            : [document.RootElement.GetString()!];
    }

    private async Task FetchAndScanAsync(string packageSpec, ScanSession session, CancellationToken cancellationToken)
    {
        var folder = Directory.CreateTempSubdirectory("llmsecops-npm-");
        try
        {
            var json = await ProcessRunner.RunAsync(npm, ["pack", packageSpec, "--json", "--ignore-scripts", "--pack-destination", folder.FullName], folder.FullName, cancellationToken);
            using var document = JsonDocument.Parse(json);
            foreach (var packed in document.RootElement.EnumerateArray())
            {
                var file = Path.Combine(folder.FullName, packed.GetProperty("filename").GetString()!);
                await ScanTarballAsync(file, $"npm:{packed.GetProperty("id").GetString()}", session, cancellationToken);
            }
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>Makes a source from a kind name and a target.</summary>
public static class ScanSources
{
    /// <summary>The kinds understood.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["directory", "git", "npm", "image"];

    /// <summary>The source of <paramref name="kind"/> for <paramref name="target"/>.</summary>
    public static IScanSource Create(string kind, string target, string? mirrorDirectory = null) => kind switch
    {
        "directory" or "dir" => new DirectorySource(target),
        "git" => new GitHistorySource(target, mirrorDirectory),
        "npm" => new NpmPackageSource(target),
        "image" => new ImageArchiveSource(target),
        _ => throw new ArgumentException($"Unknown source kind '{kind}'; use one of {string.Join(", ", Kinds)}.", nameof(kind)),
    };
}

using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.KeyLeakWatcher.Scanning;

/// <summary>
/// One key found in one place. <see cref="Location"/> names the place exactly
/// (<c>image.tar!layer sha256:..!etc/app.env:12</c>, <c>repo@commit:path:3</c>). The key itself is held only to
/// compute its token hash and never appears in <see cref="ToString"/>, logs or storage.
/// </summary>
public sealed class Finding
{
    public Finding(string key, string sourceKind, string location, FindingContext? context = null)
    {
        if (!ApiKey.TryParse(key, out var parts))
        {
            throw new ArgumentException("Not a valid key.", nameof(key));
        }

        Key = key;
        KeyId = parts.IdString(key);
        TokenHash = ApiKey.TokenHash(key);
        SourceKind = sourceKind;
        Location = location;
        Context = context ?? FindingContext.None;
    }

    /// <summary>The full key. Secret: only for hashing.</summary>
    internal string Key { get; }

    /// <summary>The key's public id (safe to show).</summary>
    public string KeyId { get; }

    /// <summary>Lowercase hex SHA-256 of the key (ARCHITECTURE.md's token_hash).</summary>
    public string TokenHash { get; }

    /// <summary><c>directory</c>, <c>git</c>, <c>npm</c>, <c>image</c> or <c>github</c>.</summary>
    public string SourceKind { get; }

    /// <summary>Exact place, e.g. <c>image.tar!layer sha256:ab..!etc/app.env:12</c>.</summary>
    public string Location { get; }

    /// <summary>Extra facts about the place (commit, author, path, line).</summary>
    public FindingContext Context { get; }

    /// <summary>Never prints the key.</summary>
    public override string ToString() => $"{KeyId} at {Location}";
}

/// <summary>Details of where a finding was made; every field optional.</summary>
/// <param name="Path">Path of the file inside its container (repo, package, layer).</param>
/// <param name="Line">1-based line.</param>
/// <param name="Commit">Git commit that introduced the content.</param>
/// <param name="Author">Git author of that commit (<c>Name &lt;email&gt;</c>).</param>
/// <param name="Note">Anything else worth knowing (e.g. deleted by a whiteout in a later layer).</param>
public sealed record FindingContext(string? Path = null, long? Line = null, string? Commit = null, string? Author = null, string? Note = null)
{
    /// <summary>No details.</summary>
    public static readonly FindingContext None = new();
}

/// <summary>Something a source could not read, reported instead of silently skipped.</summary>
/// <param name="Location">Where it is.</param>
/// <param name="Reason">Why it was not scanned.</param>
public sealed record NotScanned(string Location, string Reason);

using LlmSecOps.KeyLeakWatcher.Scanning;

namespace LlmSecOps.KeyLeakWatcher.Sources;

/// <summary>A place to scan for keys.</summary>
public interface IScanSource
{
    /// <summary><c>directory</c>, <c>git</c>, <c>npm</c> or <c>image</c>.</summary>
    string Kind { get; }

    /// <summary>What is scanned (path, URL, package spec), as the user gave it.</summary>
    string Target { get; }

    /// <summary>
    /// Scans into <paramref name="session"/>. <paramref name="previousState"/> is what the last scan of this source
    /// returned (null the first time): sources use it to read only new content. Returns the state to remember.
    /// </summary>
    Task<string?> ScanAsync(ScanSession session, string? previousState, CancellationToken cancellationToken);
}

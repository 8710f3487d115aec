namespace LlmSecOps.KeyLeakWatcher.Scanning;

/// <summary>
/// What a source reports into while it scans: findings (handed to <see cref="FindingHandler"/> as they are made,
/// so revocation does not wait for the end of a long scan), things it could not read, and progress.
/// </summary>
public sealed class ScanSession
{
    private readonly List<Finding> _findings = [];
    private readonly List<NotScanned> _notScanned = [];
    private readonly Lock _lock = new();
    private long _bytes;
    private long _items;

    /// <summary>Called for each finding as it is made. Default: none (findings are only collected).</summary>
    public Func<Finding, CancellationToken, ValueTask>? FindingHandler { get; init; }

    /// <summary>Called after each item with the total bytes scanned so far. Default: none.</summary>
    public Action<long>? Progress { get; init; }

    /// <summary>Chunk size for stream scanning (tests use small chunks to exercise boundaries).</summary>
    public int ChunkSize { get; init; } = KeyScanner.DefaultChunkSize;

    /// <summary>Findings so far.</summary>
    public IReadOnlyList<Finding> Findings
    {
        get
        {
            lock (_lock)
            {
                return [.. _findings];
            }
        }
    }

    /// <summary>What could not be scanned.</summary>
    public IReadOnlyList<NotScanned> NotScannedItems
    {
        get
        {
            lock (_lock)
            {
                return [.. _notScanned];
            }
        }
    }

    /// <summary>Bytes scanned (decompressed content).</summary>
    public long BytesScanned => Interlocked.Read(ref _bytes);

    /// <summary>Files, blobs or entries scanned.</summary>
    public long ItemsScanned => Interlocked.Read(ref _items);

    /// <summary>Scans one item's content; each key becomes a finding at <c>{location}:{line}</c>.</summary>
    public ValueTask<int> ScanAsync(Stream content, string sourceKind, string location, CancellationToken cancellationToken) =>
        ScanAsync(content, sourceKind, () => ValueTask.FromResult(new FindingPlace(location, FindingContext.None)), cancellationToken);

    /// <summary>
    /// Scans one item's content. Each key becomes a finding at <c>{place.Location}:{line}</c>; the place is computed
    /// only when there is a hit (e.g. a git commit and author looked up for the rare blob that holds a key).
    /// </summary>
    public async ValueTask<int> ScanAsync(Stream content, string sourceKind, Func<ValueTask<FindingPlace>> place, CancellationToken cancellationToken)
    {
        var matches = new List<KeyMatch>();
        var read = await KeyScanner.ScanAsync(content, matches, cancellationToken, ChunkSize);
        Interlocked.Add(ref _bytes, read);
        Interlocked.Increment(ref _items);
        if (matches.Count > 0)
        {
            var (location, context) = await place();
            foreach (var match in matches)
            {
                await ReportAsync(new Finding(match.Key, sourceKind, $"{location}:{match.Line}", context with { Line = match.Line }), cancellationToken);
            }
        }

        Progress?.Invoke(BytesScanned);
        return matches.Count;
    }

    /// <summary>Records something that could not be scanned (never skipped silently).</summary>
    public void ReportNotScanned(string location, string reason)
    {
        lock (_lock)
        {
            _notScanned.Add(new NotScanned(location, reason));
        }
    }

    /// <summary>Records a finding and hands it to the handler.</summary>
    public async ValueTask ReportAsync(Finding finding, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _findings.Add(finding);
        }

        if (FindingHandler is not null)
        {
            await FindingHandler(finding, cancellationToken);
        }
    }
}

/// <summary>Where content came from: the location prefix (the line is appended) and its details.</summary>
/// <param name="Location">E.g. <c>repo@0123abcd4567:config/app.env</c>.</param>
/// <param name="Context">Commit, author, path.</param>
public readonly record struct FindingPlace(string Location, FindingContext Context);

using LlmSecOps.KeyLeakWatcher.Scanning;
using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Actions;

/// <summary>What happened to one finding.</summary>
/// <param name="Finding">The finding.</param>
/// <param name="Outcome">What was done (or, for a repeat, what was done the first time).</param>
/// <param name="Repeat">True when the finding had been handled before and nothing was done now.</param>
/// <param name="Detail">Error text, or the key's state.</param>
public sealed record FindingResult(Finding Finding, FindingOutcome Outcome, bool Repeat, string? Detail = null);

/// <summary>
/// Acts on findings: looks the key up by token hash; revokes it at once when active (<c>source: leak</c>, the place as
/// evidence — the control plane opens the incident and notifies the owner); records already-revoked and unknown
/// keys. The store makes the same finding act once, across repeats, restarts and replicas.
/// </summary>
public sealed partial class LeakResponder(ControlPlaneClient? controlPlane, IFindingStore store, ILogger<LeakResponder> logger)
{
    // One key found in several places at once: act on them one at a time so the key is revoked once.
    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>Builds the responder from options: no control-plane client in report-only mode.</summary>
    public static LeakResponder Create(IOptions<ControlPlaneOptions> options, IHttpClientFactory clients, IFindingStore store, ILogger<LeakResponder> logger) =>
        new(options.Value.ReportOnly ? null : new ControlPlaneClient(clients.CreateClient(nameof(ControlPlaneClient))), store, logger);

    /// <summary>Handles one finding.</summary>
    public async Task<FindingResult> HandleAsync(Finding finding, CancellationToken cancellationToken)
    {
        var stripe = _stripes[(int)((uint)finding.TokenHash.GetHashCode(StringComparison.Ordinal) % (uint)_stripes.Length)];
        await stripe.WaitAsync(cancellationToken);
        try
        {
            var before = FindingOutcome.Pending;
            var id = await store.RecordAndClaimAsync(finding, cancellationToken, o => before = o);
            if (id is null)
            {
                LogRepeat(logger, finding.KeyId, finding.Location, before);
                return new FindingResult(finding, before, Repeat: true);
            }

            var (outcome, status, detail) = await ActAsync(finding, cancellationToken);
            await store.CompleteAsync(id.Value, outcome, status, detail, CancellationToken.None);
            return new FindingResult(finding, outcome, Repeat: false, detail);
        }
        finally
        {
            stripe.Release();
        }
    }

    private async Task<(FindingOutcome, KeyStatus?, string?)> ActAsync(Finding finding, CancellationToken cancellationToken)
    {
        if (controlPlane is null)
        {
            LogRecorded(logger, finding.KeyId, finding.Location);
            return (FindingOutcome.Recorded, null, "report-only");
        }

        try
        {
            var status = await controlPlane.LookupAsync(finding.TokenHash, cancellationToken);
            if (status is null)
            {
                LogUnknown(logger, finding.KeyId, finding.Location);
                return (FindingOutcome.Unknown, null, null);
            }

            if (!status.IsActive)
            {
                LogAlreadyRevoked(logger, status.KeyId, status.Status, finding.Location);
                return (FindingOutcome.AlreadyRevoked, status, status.Status);
            }

            var evidence = Evidence(finding);
            var after = await controlPlane.RevokeAsync(status.KeyId, Bound($"Leaked: found by the key-leak watcher in {finding.SourceKind} at {finding.Location}", 900), evidence, cancellationToken);
            LogRevoked(logger, status.KeyId, status.TenantId, finding.Location);
            return (FindingOutcome.Revoked, after ?? status, null);
        }
        catch (Exception ex) when (ex is ControlPlaneException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogControlPlaneFailed(logger, finding.KeyId, finding.Location, ex.Message);
            return (FindingOutcome.Error, null, ex.Message);
        }
    }

    /// <summary>Where the key was found, with commit/author/notes: what the owner needs to clean up (bounded in size).</summary>
    private static Dictionary<string, object> Evidence(Finding finding)
    {
        var c = finding.Context;
        var evidence = new Dictionary<string, object>
        {
            ["watcher"] = "key-leak-watcher",
            ["sourceKind"] = finding.SourceKind,
            ["location"] = Bound(finding.Location, 2000),
            ["tokenHash"] = finding.TokenHash,
            ["foundAt"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        };
        AddIf(evidence, "path", c.Path, 1000);
        AddIf(evidence, "commit", c.Commit, 64);
        AddIf(evidence, "author", c.Author, 300);
        AddIf(evidence, "note", c.Note, 1000);
        if (c.Line is { } line)
        {
            evidence["line"] = line;
        }

        return evidence;
    }

    private static void AddIf(Dictionary<string, object> evidence, string name, string? value, int max)
    {
        if (value is not null)
        {
            evidence[name] = Bound(value, max);
        }
    }

    private static string Bound(string value, int max) => value.Length <= max ? value : value[..(max - 1)] + "…";

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Leaked key {KeyId} of tenant {TenantId} revoked; found at {Location}")]
    private static partial void LogRevoked(ILogger logger, string keyId, string? tenantId, string location);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "Leaked key {KeyId} was already {Status}; found at {Location}")]
    private static partial void LogAlreadyRevoked(ILogger logger, string keyId, string status, string location);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Information, Message = "Key-shaped token {KeyId} with a valid checksum is unknown to the control plane; found at {Location}")]
    private static partial void LogUnknown(ILogger logger, string keyId, string location);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Error, Message = "Could not act on leaked key {KeyId} found at {Location}: {Error}; will retry")]
    private static partial void LogControlPlaneFailed(ILogger logger, string keyId, string location, string error);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Debug, Message = "Finding {KeyId} at {Location} was handled before ({Outcome}); nothing done")]
    private static partial void LogRepeat(ILogger logger, string keyId, string location, FindingOutcome outcome);

    [LoggerMessage(EventId = 6006, Level = LogLevel.Warning, Message = "Key {KeyId} found at {Location} (report-only: not looked up or revoked)")]
    private static partial void LogRecorded(ILogger logger, string keyId, string location);
}

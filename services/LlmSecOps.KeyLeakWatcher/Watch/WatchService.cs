using LlmSecOps.KeyLeakWatcher.Actions;
using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Watch;

/// <summary>
/// Polls the configured sources: each round scans only what is new since the remembered state and acts on findings
/// as they are made. When acting on a finding failed (control plane unreachable) the state is not advanced, so the
/// next round sees the finding again and retries.
/// </summary>
public sealed partial class WatchService(IOptions<WatchOptions> options, SourceStateStore states, LeakResponder responder, ILogger<WatchService> logger) : BackgroundService
{
    /// <summary>Rounds completed (for status and tests).</summary>
    public int Rounds => _rounds;

    private int _rounds;

    /// <summary>Scans every source once.</summary>
    public async Task RunRoundAsync(CancellationToken cancellationToken)
    {
        foreach (var configured in options.Value.Sources)
        {
            var failed = 0;
            var session = new ScanSession
            {
                FindingHandler = async (finding, ct) =>
                {
                    var result = await responder.HandleAsync(finding, ct);
                    if (result.Outcome == FindingOutcome.Error)
                    {
                        Interlocked.Increment(ref failed);
                    }
                },
            };
            try
            {
                var source = ScanSources.Create(configured.Kind, configured.Target, options.Value.MirrorDirectory);
                var previous = await states.GetAsync(configured.Id, cancellationToken);
                var next = await source.ScanAsync(session, previous, cancellationToken);
                var error = failed > 0 ? $"{failed} finding(s) could not be acted on; the same content is scanned again next round" : null;
                // Keep the old state when a finding could not be acted on, so the next round meets it again.
                await states.SaveAsync(configured.Id, configured.Kind, configured.Target, error is null ? next : null, error, session, cancellationToken);
                LogScanned(logger, configured.Id, session.BytesScanned, session.Findings.Count, session.NotScannedItems.Count);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogSourceFailed(logger, configured.Id, ex.Message);
                await states.SaveAsync(configured.Id, configured.Kind, configured.Target, null, ex.Message, session, CancellationToken.None);
            }
        }

        Interlocked.Increment(ref _rounds);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Sources.Count == 0)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            await RunRoundAsync(stoppingToken);
            await Task.Delay(options.Value.Interval, stoppingToken);
        }
    }

    [LoggerMessage(EventId = 6201, Level = LogLevel.Information, Message = "Watched source {Source}: {Bytes} bytes scanned, {Findings} finding(s), {NotScanned} item(s) not scanned")]
    private static partial void LogScanned(ILogger logger, string source, long bytes, int findings, int notScanned);

    [LoggerMessage(EventId = 6202, Level = LogLevel.Error, Message = "Watched source {Source} failed: {Error}")]
    private static partial void LogSourceFailed(ILogger logger, string source, string error);
}

using System.Threading.Channels;
using LlmSecOps.AnomalyScorer.ControlPlane;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.Decisions;

/// <summary>
/// Takes decisions off the scoring path (a bounded channel) and sends the enforced ones to the control plane, with
/// retries and exponential back-off; observe-only decisions stay in the scorer's recent list. The scorer never waits
/// for the network.
/// </summary>
public sealed partial class DecisionDispatcher : BackgroundService, IDecisionSink
{
    private readonly Channel<Decision> _queue;
    private readonly IControlPlaneClient _client;
    private readonly ControlPlaneOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DecisionDispatcher> _logger;

    /// <summary>Creates the dispatcher.</summary>
    public DecisionDispatcher(IControlPlaneClient client, IOptions<ControlPlaneOptions> options, TimeProvider time, ILogger<DecisionDispatcher> logger)
    {
        _client = client;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _queue = Channel.CreateBounded<Decision>(new BoundedChannelOptions(_options.QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>Decisions sent successfully.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Decisions given up on.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    private long _sent;
    private long _failed;

    /// <inheritdoc />
    public void Submit(Decision decision)
    {
        if (!decision.Enforced)
        {
            LogObserved(_logger, decision.Action, decision.KeyId, decision.Reason);
            return;
        }

        if (!_queue.Writer.TryWrite(decision))
        {
            Interlocked.Increment(ref _failed);
            LogDropped(_logger, decision.Action, decision.KeyId);
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var decision in _queue.Reader.ReadAllAsync(stoppingToken))
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    if (decision.Action == DecisionAction.Revoke)
                    {
                        await _client.RevokeAsync(decision, stoppingToken);
                    }
                    else
                    {
                        await _client.CreateIncidentAsync(decision, stoppingToken);
                    }

                    Interlocked.Increment(ref _sent);
                    LogSent(_logger, decision.Action, decision.KeyId, decision.Reason);
                    break;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ControlPlaneException && !stoppingToken.IsCancellationRequested)
                {
                    var transient = ex is not ControlPlaneException cp || cp.Transient;
                    if (!transient || attempt >= _options.MaxAttempts)
                    {
                        Interlocked.Increment(ref _failed);
                        LogGaveUp(_logger, decision.Action, decision.KeyId, attempt, ex.Message);
                        break;
                    }

                    LogRetry(_logger, decision.Action, decision.KeyId, attempt, ex.Message);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(200 * (1 << attempt), 10_000)), _time, stoppingToken);
                }
            }
        }
    }

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Anomaly decision sent: {Action} key {KeyId}: {Reason}")]
    private static partial void LogSent(ILogger logger, DecisionAction action, string keyId, string reason);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information, Message = "Anomaly decision recorded only (observe/allow-list): {Action} key {KeyId}: {Reason}")]
    private static partial void LogObserved(ILogger logger, DecisionAction action, string keyId, string reason);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "Sending {Action} for key {KeyId} failed (attempt {Attempt}): {Error}; retrying")]
    private static partial void LogRetry(ILogger logger, DecisionAction action, string keyId, int attempt, string error);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Error, Message = "Gave up sending {Action} for key {KeyId} after {Attempt} attempts: {Error}")]
    private static partial void LogGaveUp(ILogger logger, DecisionAction action, string keyId, int attempt, string error);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Error, Message = "Decision queue full: {Action} for key {KeyId} dropped")]
    private static partial void LogDropped(ILogger logger, DecisionAction action, string keyId);
}

using LlmSecOps.AnomalyScorer.Detection;

namespace LlmSecOps.AnomalyScorer.Decisions;

/// <summary>What a decision asks the control plane to do.</summary>
public enum DecisionAction
{
    /// <summary>Record an incident (owner notified), leave the key working.</summary>
    Flag,

    /// <summary>Revoke the key (the control plane records the incident and notifies the owner).</summary>
    Revoke,
}

/// <summary>One detector family's contribution to a decision.</summary>
public sealed record EvidenceSignal(string Family, double PValue, string? Reason, DateTimeOffset? FiredAt);

/// <summary>Evidence attached to an incident: every family's latest signal and the key's profile.</summary>
public sealed record IncidentEvidence(
    double CombinedPValue,
    IReadOnlyList<EvidenceSignal> Signals,
    IReadOnlyList<string> KnownCountries,
    double MedianRequestsPerActiveMinute,
    int RequestsThisMinute,
    string? HardRule);

/// <summary>A scorer decision about one key.</summary>
/// <param name="Id">Unique id of the decision.</param>
/// <param name="KeyId">The key's public id.</param>
/// <param name="TenantId">Its tenant.</param>
/// <param name="Action">What the scorer concluded.</param>
/// <param name="Policy">The tenant's policy when decided.</param>
/// <param name="Enforced">Whether the action is sent to the control plane (false under observe or allow-lists).</param>
/// <param name="At">When (from the scorer's clock).</param>
/// <param name="Reason">Human-readable summary.</param>
/// <param name="Evidence">The signals behind it.</param>
public sealed record Decision(
    string Id,
    string KeyId,
    string TenantId,
    DecisionAction Action,
    ScoringPolicy Policy,
    bool Enforced,
    DateTimeOffset At,
    string Reason,
    IncidentEvidence Evidence);

/// <summary>Receives the scorer's decisions. Must not block: the scorer calls it on the event path.</summary>
public interface IDecisionSink
{
    /// <summary>Takes a decision.</summary>
    void Submit(Decision decision);
}

/// <summary>Keeps decisions in memory (benchmarks, tests, and the management endpoint's recent list).</summary>
public sealed class DecisionRecorder : IDecisionSink
{
    private readonly List<Decision> _decisions = [];
    private readonly Lock _lock = new();

    /// <summary>Everything submitted so far.</summary>
    public IReadOnlyList<Decision> Decisions
    {
        get
        {
            lock (_lock)
            {
                return [.. _decisions];
            }
        }
    }

    /// <inheritdoc />
    public void Submit(Decision decision)
    {
        lock (_lock)
        {
            _decisions.Add(decision);
        }
    }
}

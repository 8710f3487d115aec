namespace LlmSecOps.AnomalyScorer.Detection;

/// <summary>
/// Groups of detectors that look at independent evidence. Auto-revocation needs two different families to agree
/// (or a hard rule), so one noisy signal — a VPN toggle, a traffic launch, an SDK upgrade — never revokes on its own.
/// </summary>
public enum DetectorFamily
{
    /// <summary>Request and token rates: burst (spike) and change-point.</summary>
    Volume,

    /// <summary>Which country calls come from: new country, share of calls from new countries, several countries
    /// within an hour, impossible travel.</summary>
    Origin,

    /// <summary>Which networks (/24, /48) calls come from: never-seen networks and their share of calls. On its own
    /// or with volume this is what scaling out looks like, so it only counts towards revocation with max-tokens.</summary>
    Network,

    /// <summary>max_tokens at the cap and completions cut by length.</summary>
    MaxTokens,

    /// <summary>Isolation-forest outlier among all keys (flag-only: it re-uses the other families' features).</summary>
    Population,
}

/// <summary>One detector's verdict on a key: a p-value under "this is the key's normal behaviour", and why.</summary>
public readonly record struct DetectorSignal(DetectorFamily Family, double PValue, string? Reason)
{
    /// <summary>A signal that says nothing.</summary>
    public static DetectorSignal Quiet(DetectorFamily family) => new(family, 1.0, null);
}

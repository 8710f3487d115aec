namespace LlmSecOps.AnomalyScorer.Detection.Iid;

/// <summary>Which side of the distribution counts as anomalous (ML.NET's AnomalySide).</summary>
public enum AnomalySide
{
    /// <summary>Only unusually large values.</summary>
    Positive,

    /// <summary>Only unusually small values.</summary>
    Negative,

    /// <summary>Both.</summary>
    TwoSided,
}

/// <summary>The martingale used by the change-point detector (ML.NET's MartingaleType).</summary>
public enum MartingaleType
{
    /// <summary>Power martingale with betting function ε p^(ε-1).</summary>
    Power,

    /// <summary>Mixture martingale: the power martingale integrated over ε in (0, 1).</summary>
    Mixture,
}

/// <summary>One scored point: ML.NET's output vector (Alert, Raw Score, P-Value Score, Martingale Score).</summary>
public readonly record struct IidScore(bool Alert, double RawScore, double PValue, double Martingale);

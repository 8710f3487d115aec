namespace LlmSecOps.AnomalyScorer.Bench.Simulation;

/// <summary>
/// The frozen parameters of the synthetic traffic (changing anything here changes every figure in the report;
/// docs/benchmarks/anomaly-scorer.md quotes the generator version).
/// </summary>
public static class TrafficModel
{
    /// <summary>Bumped whenever the generator's behaviour changes.</summary>
    public const string Version = "2";

    /// <summary>Run start: Monday 2026-01-05 00:00 UTC.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The tier cap on max_tokens.</summary>
    public const int TierMaxTokens = 4096;

    /// <summary>Home countries and weights (rough shares of self-hosted-LLM traffic; an assumption).</summary>
    public static readonly (string Country, double Weight, int UtcOffset, bool Dst)[] Homes =
    [
        ("US", 30, -6, true), ("DE", 8, 1, true), ("GB", 8, 0, true), ("IN", 8, 5, false), ("FR", 6, 1, true),
        ("JP", 5, 9, false), ("BR", 5, -3, false), ("CA", 5, -5, true), ("NL", 3, 1, true), ("SG", 3, 8, false),
        ("KR", 3, 9, false), ("ES", 3, 1, true), ("IT", 3, 1, true), ("AU", 3, 10, false), ("SE", 2, 1, true),
        ("PL", 2, 1, true), ("MX", 2, -6, false), ("ZA", 1, 2, false), ("CH", 1, 1, true), ("IE", 1, 0, true),
    ];

    /// <summary>Where attackers operate from.</summary>
    public static readonly string[] AttackerCountries = ["RU", "CN", "VN", "NG", "ID", "UA", "RO", "PK", "BD", "TR", "IR", "KP", "TH", "PH", "EG"];

    /// <summary>Commercial VPN exit countries.</summary>
    public static readonly string[] VpnCountries = ["NL", "SE", "CH", "US", "GB", "DE", "SG", "RO", "PA", "IS"];

    /// <summary>Cloud regions multi-region deployments run in.</summary>
    public static readonly string[] CloudRegions = ["US", "IE", "DE", "SG", "JP", "AU", "BR", "IN", "CA", "GB"];

    /// <summary>Failover partner region for a home country.</summary>
    public static string FailoverFor(string home) => home switch
    {
        "US" => "CA",
        "CA" => "US",
        "DE" => "NL",
        "NL" => "DE",
        "GB" => "IE",
        "IE" => "GB",
        "FR" => "DE",
        "JP" => "KR",
        "KR" => "JP",
        "SG" => "JP",
        "AU" => "SG",
        "IN" => "SG",
        "BR" => "US",
        _ => "US",
    };
}

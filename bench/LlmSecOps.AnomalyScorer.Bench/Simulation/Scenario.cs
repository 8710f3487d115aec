namespace LlmSecOps.AnomalyScorer.Bench.Simulation;

/// <summary>The labelled situations the generator injects.</summary>
public enum Scenario
{
    /// <summary>No injection.</summary>
    None,

    // attacks (a second party uses the owner's key; the owner keeps using it)

    /// <summary>Leaked key hammered from a new, far country: 20-200 requests/min for 20-90 min, mostly max_tokens.</summary>
    LeakedBurst,

    /// <summary>The same on a key created one to two days earlier (population prior instead of blind warm-up).</summary>
    LeakedBurstNewKey,

    /// <summary>Low and slow: 0.5-1.5x the owner's daily volume spread over 24 h from new networks, max_tokens at the cap.</summary>
    LowAndSlow,

    /// <summary>Geography shift: concurrent use from a country over 3,000 km away at 1-3x the owner's volume, same habits.</summary>
    GeoShift,

    /// <summary>Max-tokens maxing from the owner's own country (new networks) at 1-2x volume, every call at the cap.</summary>
    MaxTokensMaxing,

    /// <summary>Key shared across networks: 10-40 users in 3-8 countries, each on its own network.</summary>
    KeySharing,

    // benign look-alikes (the owner changes behaviour; nothing should be revoked)

    /// <summary>Traffic launch: volume steps up 5-30x within an hour, one new network in the home country.</summary>
    TrafficLaunch,

    /// <summary>Region failover: 2-12 hours of all traffic from the failover region's country and networks.</summary>
    RegionFailover,

    /// <summary>VPN toggle: from the start, daily 1-6 h sessions through a VPN exit in another country.</summary>
    VpnToggle,

    /// <summary>SDK upgrade: every call asks for max_tokens at the cap from the start on.</summary>
    SdkUpgrade,
}

/// <summary>Scenario helpers.</summary>
public static class ScenarioExtensions
{
    /// <summary>Whether the scenario is an attack (a revocation during it is a true positive).</summary>
    public static bool IsAttack(this Scenario s) => s is >= Scenario.LeakedBurst and <= Scenario.KeySharing;

    /// <summary>Kebab-case name for reports.</summary>
    public static string Name(this Scenario s) => s switch
    {
        Scenario.LeakedBurst => "leaked-key burst (new country)",
        Scenario.LeakedBurstNewKey => "leaked-key burst on a new key",
        Scenario.LowAndSlow => "low-and-slow abuse",
        Scenario.GeoShift => "geography shift / impossible travel",
        Scenario.MaxTokensMaxing => "max-tokens maxing",
        Scenario.KeySharing => "key sharing across networks",
        Scenario.TrafficLaunch => "traffic launch",
        Scenario.RegionFailover => "region failover",
        Scenario.VpnToggle => "VPN toggle",
        Scenario.SdkUpgrade => "SDK upgrade (max_tokens)",
        _ => "clean",
    };
}

using LlmSecOps.AnomalyScorer.Detection.Volume;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.Detection;

/// <summary>What the scorer may do for a tenant's keys.</summary>
public enum ScoringPolicy
{
    /// <summary>Shadow mode: decisions are recorded here only.</summary>
    Observe,

    /// <summary>Decisions become incidents on the control plane; nothing is revoked.</summary>
    Flag,

    /// <summary>Revoke when two independent families agree or a hard rule trips; flag otherwise.</summary>
    Revoke,
}

/// <summary>
/// Scoring and decision settings (configuration section <c>Scoring</c>). The thresholds' defaults were tuned on the
/// benchmark's tuning seeds only (docs/benchmarks/anomaly-scorer.md); the held-out seeds were scored once.
/// </summary>
public sealed class ScoringOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Scoring";

    /// <summary>Policy for tenants not listed in <see cref="TenantPolicies"/>. Default <c>Revoke</c>.</summary>
    public ScoringPolicy DefaultPolicy { get; set; } = ScoringPolicy.Revoke;

    /// <summary>Per-tenant policy overrides (tenant id -&gt; policy). Default empty.</summary>
    public Dictionary<string, ScoringPolicy> TenantPolicies { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Key ids never acted on (decisions are recorded as observe-only). Default empty.</summary>
    public List<string> AllowedKeys { get; set; } = [];

    /// <summary>Tenant ids never acted on. Default empty.</summary>
    public List<string> AllowedTenants { get; set; } = [];

    /// <summary>Weight, in pseudo-observations, of the population prior against a key's own history. Default 8.</summary>
    public double PriorWeight { get; set; } = 8;

    /// <summary>Weight, in pseudo-days, of the population's origin rates. Default 5.</summary>
    public double OriginPriorWeight { get; set; } = 5;

    /// <summary>Signals at or under this p-value carry a human-readable reason. Default 0.01.</summary>
    public double ReportP { get; set; } = 0.01;

    /// <summary>The volume family fires at or under this p-value. Default 1e-6.</summary>
    public double VolumeAlertP { get; set; } = 1e-6;

    /// <summary>The origin family fires at or under this p-value. Default 0.02.</summary>
    public double OriginAlertP { get; set; } = 0.02;

    /// <summary>The max-tokens family fires at or under this p-value. Default 1e-5.</summary>
    public double MaxTokensAlertP { get; set; } = 1e-5;

    /// <summary>The population (isolation forest) family fires at or under this p-value. Default 1e-3.</summary>
    public double PopulationAlertP { get; set; } = 1e-3;

    /// <summary>Flag when the Fisher combination of all families is at or under this. Default 1e-9.</summary>
    public double CombinedFlagP { get; set; } = 1e-9;

    /// <summary>The origin or network family supports a revocation when its smallest p-value in the agreement window
    /// is at most this. Default 1e-6 (every family re-tests on each call, so single-test thresholds would be far too loose).</summary>
    public double SupportP { get; set; } = 1e-6;

    /// <summary>The volume and max-tokens families, which test on every call and so test many times, support a
    /// revocation only at or under this. Default 1e-6.</summary>
    public double FrequentTestSupportP { get; set; } = 1e-6;

    /// <summary>Revoke when two supporting families' Fisher combination is at most this. Default 1e-10.</summary>
    public double RevokeCombinedP { get; set; } = 1e-10;

    /// <summary>Hard rule (concurrent use from a new country): impossible-travel jumps within an hour that involve a
    /// country first used in the last 24 hours. Default 5.</summary>
    public int ConcurrentNewCountryJumps { get; set; } = 5;

    /// <summary>Two families must both support a revocation within this many minutes. Default 60.</summary>
    public int AgreementWindowMinutes { get; set; } = 60;

    /// <summary>At most one flag incident per key per this many minutes. Default 360.</summary>
    public int FlagCooldownMinutes { get; set; } = 360;

    /// <summary>An alert episode that lasts this long is accepted as the key's new normal. Default 24.</summary>
    public int RegimeAcceptanceHours { get; set; } = 24;

    /// <summary>Hours after a key's first event during which origin is only learned, not scored. Default 24.</summary>
    public int OriginLearningHours { get; set; } = 24;

    /// <summary>... or until the key has made this many calls, whichever comes first. Default 20.</summary>
    public int OriginLearningEvents { get; set; } = 20;

    /// <summary>
    /// Warm-up: until the population priors have been refreshed once from real traffic (a daily refresh at least this
    /// many hours after the scorer's first event, with enough keys), revoke-worthy decisions on keys with little
    /// history become flag incidents instead. Every key is new when a scorer starts fresh, and the built-in priors are
    /// guesses. Default 18.
    /// </summary>
    public int WarmUpHours { get; set; } = 18;

    /// <summary>During the warm-up, a key with at least this many days of its own history may still be revoked.
    /// Default 3.</summary>
    public int WarmUpKeyDays { get; set; } = 3;

    /// <summary>
    /// Daily rhythm: with 1, an hour of the day next to one the key used in the last two weeks does not count as
    /// off-hours, and an hour's volume is compared with the busiest of it and its two neighbours on the last seven days
    /// (a daylight-saving change shifts a key's whole rhythm by one hour in UTC); 0 is stricter. Default 1.
    /// </summary>
    public int RhythmToleranceHours { get; set; } = 1;

    /// <summary>Hard rule (concurrent use from a new country), slow variant: jumps within
    /// <see cref="ConcurrentNewCountryWindowHours"/>. Default 8 (an owner who moves — VPN session, failover — makes two
    /// jumps per move; two parties sharing a key make them all day).</summary>
    public int ConcurrentNewCountryJumpsPerDay { get; set; } = 8;

    /// <summary>Hard rule (concurrent use from a new country), slow variant: a country counts as new for this many
    /// hours after its first call (if it appeared once the key was three days old), and its jumps are counted over
    /// the same window. Default 48.</summary>
    public int ConcurrentNewCountryWindowHours { get; set; } = 48;

    /// <summary>Travel faster than this between two countries' centroids is impossible. Default 900 km/h.</summary>
    public double ImpossibleSpeedKmh { get; set; } = 900;

    /// <summary>Centroid distances under this never count as travel (neighbours, border regions). Default 500 km.</summary>
    public double ImpossibleMinDistanceKm { get; set; } = 500;

    /// <summary>Calls in the max-tokens window. Default 40.</summary>
    public int MaxTokensWindow { get; set; } = 40;

    /// <summary>Calls needed before the max-tokens test speaks. Default 15.</summary>
    public int MaxTokensMinCalls { get; set; } = 15;

    /// <summary>Floor on the baseline share in the binomial test. Default 0.02.</summary>
    public double MaxTokensMinBaseShare { get; set; } = 0.02;

    /// <summary>
    /// The tier cap on max_tokens when the operator knows it (one value for all tenants); otherwise the scorer learns
    /// each tenant's cap from requests the gateway clamped (requested &gt; effective). Default null (learned).
    /// </summary>
    public int? MaxTokensCap { get; set; }

    /// <summary>A call is "at the cap" when its effective max_tokens is at least this share of the cap. Default 0.9.</summary>
    public double MaxTokensCapShare { get; set; } = 0.9;

    /// <summary>Hard rule (key shared across networks): this many countries within an hour ... Default 3.</summary>
    public int SharingCountriesPerHour { get; set; } = 3;

    /// <summary>... together with this many never-seen networks within the hour. Default 8.</summary>
    public int SharingNewNetworksPerHour { get; set; } = 8;

    /// <summary>How per-minute bursts are scored (Robust, or ML.NET's kernel for comparison). Default Robust.</summary>
    public BurstModel BurstModel { get; set; } = BurstModel.Robust;

    /// <summary>Trees in the isolation forest. Default 100.</summary>
    public int PopulationTrees { get; set; } = 100;

    /// <summary>Most keys held in memory; the least recently seen are dropped beyond it. Default 2,000,000.</summary>
    public int MaxKeys { get; set; } = 2_000_000;

    /// <summary>Recent decisions kept for the management endpoint. Default 1000.</summary>
    public int RecentDecisions { get; set; } = 1000;

    /// <summary>The policy for <paramref name="tenantId"/>.</summary>
    public ScoringPolicy PolicyFor(string tenantId) =>
        TenantPolicies.TryGetValue(tenantId, out var p) ? p : DefaultPolicy;
}

/// <summary>Reports every invalid <see cref="ScoringOptions"/> setting at once.</summary>
public sealed class ScoringOptionsValidator : IValidateOptions<ScoringOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ScoringOptions options)
    {
        var errors = new List<string>();
        void Probability(string setting, double value)
        {
            if (!(value > 0 && value < 1))
            {
                errors.Add($"Scoring:{setting} must be a probability in (0, 1); it is {value}.");
            }
        }

        void Positive(string setting, double value)
        {
            if (!(value > 0))
            {
                errors.Add($"Scoring:{setting} must be greater than 0; it is {value}.");
            }
        }

        Probability(nameof(options.ReportP), options.ReportP);
        Probability(nameof(options.VolumeAlertP), options.VolumeAlertP);
        Probability(nameof(options.OriginAlertP), options.OriginAlertP);
        Probability(nameof(options.MaxTokensAlertP), options.MaxTokensAlertP);
        Probability(nameof(options.PopulationAlertP), options.PopulationAlertP);
        Probability(nameof(options.CombinedFlagP), options.CombinedFlagP);
        Probability(nameof(options.SupportP), options.SupportP);
        Probability(nameof(options.FrequentTestSupportP), options.FrequentTestSupportP);
        Probability(nameof(options.RevokeCombinedP), options.RevokeCombinedP);
        Positive(nameof(options.ConcurrentNewCountryJumps), options.ConcurrentNewCountryJumps);
        Positive(nameof(options.ConcurrentNewCountryJumpsPerDay), options.ConcurrentNewCountryJumpsPerDay);
        Positive(nameof(options.OriginLearningEvents), options.OriginLearningEvents);
        Positive(nameof(options.ConcurrentNewCountryWindowHours), options.ConcurrentNewCountryWindowHours);
        Probability(nameof(options.MaxTokensMinBaseShare), options.MaxTokensMinBaseShare);
        Probability(nameof(options.MaxTokensCapShare), options.MaxTokensCapShare);
        Positive(nameof(options.PriorWeight), options.PriorWeight);
        Positive(nameof(options.OriginPriorWeight), options.OriginPriorWeight);
        Positive(nameof(options.AgreementWindowMinutes), options.AgreementWindowMinutes);
        Positive(nameof(options.ImpossibleSpeedKmh), options.ImpossibleSpeedKmh);
        Positive(nameof(options.RegimeAcceptanceHours), options.RegimeAcceptanceHours);
        Positive(nameof(options.PopulationTrees), options.PopulationTrees);
        Positive(nameof(options.MaxKeys), options.MaxKeys);
        Positive(nameof(options.RecentDecisions), options.RecentDecisions);
        if (options.FlagCooldownMinutes < 0)
        {
            errors.Add("Scoring:FlagCooldownMinutes must not be negative.");
        }

        if (options.RhythmToleranceHours is < 0 or > 1)
        {
            errors.Add("Scoring:RhythmToleranceHours must be 0 or 1.");
        }

        if (options.WarmUpHours < 0 || options.WarmUpKeyDays < 0)
        {
            errors.Add("Scoring:WarmUpHours and Scoring:WarmUpKeyDays must not be negative.");
        }

        if (options.OriginLearningHours < 0)
        {
            errors.Add("Scoring:OriginLearningHours must not be negative.");
        }

        if (options.ImpossibleMinDistanceKm < 0)
        {
            errors.Add("Scoring:ImpossibleMinDistanceKm must not be negative.");
        }

        if (options.MaxTokensWindow < 5 || options.MaxTokensWindow > 250)
        {
            errors.Add("Scoring:MaxTokensWindow must be between 5 and 250 calls.");
        }

        if (options.MaxTokensMinCalls < 1 || options.MaxTokensMinCalls > options.MaxTokensWindow)
        {
            errors.Add("Scoring:MaxTokensMinCalls must be between 1 and Scoring:MaxTokensWindow.");
        }

        if (options.SharingCountriesPerHour < 2 || options.SharingNewNetworksPerHour < 1)
        {
            errors.Add("Scoring:SharingCountriesPerHour must be at least 2 and Scoring:SharingNewNetworksPerHour at least 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

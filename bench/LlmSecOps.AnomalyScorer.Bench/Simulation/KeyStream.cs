using LlmSecOps.AnomalyScorer.Geography;
using LlmSecOps.AnomalyScorer.Scoring;

namespace LlmSecOps.AnomalyScorer.Bench.Simulation;

/// <summary>What was injected into one key.</summary>
public sealed record Injection(Scenario Scenario, long StartMs, long EndMs);

/// <summary>
/// One key's seeded traffic: its owner (log-normal daily rate, daily and weekly rhythm, sessions, home country
/// and networks, optional multi-region or VPN habits, a max_tokens habit) plus at most one injected scenario.
/// Produces events lazily in time order; <see cref="Revoke"/> turns everything after it into failed
/// authentications (what the gateway would answer with 401), still carrying the claimed key id.
/// </summary>
public sealed class KeyStream
{
    private const long MinuteMs = 60_000;
    private const long HourMs = 3_600_000;
    private const long DayMs = 86_400_000;

    private readonly Random _rng;
    private readonly int _seed;
    private readonly int _index;
    private readonly Random _attackRng;
    private readonly long _endMs;
    private readonly long _dstShiftMs;
    private readonly string _home;
    private readonly int _utcOffset;
    private readonly bool _dst;
    private readonly double _dailyRate;
    private readonly ulong[] _homeNetworks;
    private readonly string[] _regions;
    private readonly double[] _regionWeights;
    private readonly ulong[] _regionNetworks;
    private readonly string? _vpnCountry;
    private readonly ulong _vpnNetwork;
    private readonly double _vpnDayProbability;
    private readonly int _habit; // 0 modest, 1 no max_tokens, 2 maxer
    private readonly string[] _models;
    private readonly double _sessionMean;

    private long _ownerNext;
    private int _sessionLeft;
    private long _attackNext = long.MaxValue;
    private long _vpnFrom = -1;
    private long _vpnTo = -1;
    private long _vpnDay = -1;
    private long _revokedAtMs = long.MaxValue;

    // attacker
    private readonly string _attackCountry = "";
    private readonly string[] _attackCountries = [];
    private readonly ulong[] _attackNetworks = [];
    private readonly double _attackRatePerMs;

    /// <summary>Creates key number <paramref name="index"/> of a run.</summary>
    public KeyStream(int seed, int index, long startMs, long endMs, long dstShiftMs, Scenario scenario, long injectAtMs)
    {
        _seed = seed;
        _index = index;
        _rng = new Random(StableSeed(seed, index, 17));
        _attackRng = new Random(StableSeed(seed, index, 91));
        KeyId = "k" + index.ToString("x6", System.Globalization.CultureInfo.InvariantCulture) + "s" + seed;
        TenantId = "t" + (index / 20).ToString(System.Globalization.CultureInfo.InvariantCulture);
        StartMs = startMs;
        _endMs = endMs;
        _dstShiftMs = dstShiftMs;

        var home = Pick(TrafficModel.Homes, h => h.Weight);
        _home = home.Country;
        _utcOffset = home.UtcOffset;
        _dst = home.Dst;
        _dailyRate = Math.Clamp(30 * Math.Exp(1.2 * Gaussian(_rng)), 2, 20_000);
        _sessionMean = 1 + (_rng.NextDouble() * 3);
        _homeNetworks = [.. Enumerable.Range(0, 1 + _rng.Next(3)).Select(_ => NewNetwork(_rng))];
        _habit = _rng.NextDouble() switch { < 0.70 => 0, < 0.90 => 1, _ => 2 };
        if (scenario == Scenario.MaxTokensMaxing && _habit == 2)
        {
            _habit = 0; // the scenario is a change of habit: it is injected only on keys whose owner does not max already
        }

        _models = _rng.NextDouble() < 0.7 ? ["llama3.1:8b"] : ["llama3.1:8b", "qwen2.5:14b"];

        if (_rng.NextDouble() < 0.08)
        {
            // multi-region deployment: home plus 1-2 cloud regions, used concurrently
            var extra = TrafficModel.CloudRegions.Where(c => c != _home).OrderBy(_ => _rng.Next()).Take(1 + _rng.Next(2)).ToArray();
            _regions = [_home, .. extra];
            _regionWeights = [.. _regions.Select((_, i) => i == 0 ? 0.5 : 0.5 / extra.Length)];
            _regionNetworks = [.. _regions.Select(_ => NewNetwork(_rng))];
        }
        else
        {
            _regions = [_home];
            _regionWeights = [1];
            _regionNetworks = [_homeNetworks[0]];
        }

        if (_rng.NextDouble() < 0.06)
        {
            _vpnCountry = TrafficModel.VpnCountries.Where(c => c != _home).ElementAt(_rng.Next(TrafficModel.VpnCountries.Length - 1));
            _vpnNetwork = NewNetwork(_rng);
            _vpnDayProbability = 0.3;
        }

        Injection = scenario == Scenario.None ? null : new Injection(scenario, injectAtMs, injectAtMs);
        switch (scenario)
        {
            case Scenario.LeakedBurst or Scenario.LeakedBurstNewKey:
                _attackCountry = FarCountry(_attackRng, 0);
                _attackNetworks = [.. Enumerable.Range(0, 1 + _attackRng.Next(4)).Select(_ => NewNetwork(_attackRng))];
                _attackRatePerMs = (20 + (_attackRng.NextDouble() * 180)) / MinuteMs;
                Injection = new Injection(scenario, injectAtMs, injectAtMs + ((20 + _attackRng.Next(71)) * MinuteMs));
                break;
            case Scenario.LowAndSlow:
                _attackCountry = _attackRng.NextDouble() < 0.7 ? FarCountry(_attackRng, 0) : _home;
                _attackNetworks = [.. Enumerable.Range(0, 1 + _attackRng.Next(2)).Select(_ => NewNetwork(_attackRng))];
                _attackRatePerMs = Math.Max(_dailyRate * (0.5 + _attackRng.NextDouble()), 20) / DayMs;
                Injection = new Injection(scenario, injectAtMs, injectAtMs + (3 * DayMs));
                break;
            case Scenario.GeoShift:
                _attackCountry = FarCountry(_attackRng, 3000);
                _attackNetworks = [.. Enumerable.Range(0, 1 + _attackRng.Next(3)).Select(_ => NewNetwork(_attackRng))];
                _attackRatePerMs = _dailyRate * (1 + (2 * _attackRng.NextDouble())) / DayMs;
                Injection = new Injection(scenario, injectAtMs, injectAtMs + (2 * DayMs));
                break;
            case Scenario.MaxTokensMaxing:
                _attackCountry = _home;
                _attackNetworks = [.. Enumerable.Range(0, 1 + _attackRng.Next(2)).Select(_ => NewNetwork(_attackRng))];
                _attackRatePerMs = Math.Max(_dailyRate * (1 + _attackRng.NextDouble()), 20) / DayMs;
                Injection = new Injection(scenario, injectAtMs, injectAtMs + (2 * DayMs));
                break;
            case Scenario.KeySharing:
                _attackCountries = [.. TrafficModel.AttackerCountries.Concat(TrafficModel.CloudRegions).Distinct()
                    .OrderBy(_ => _attackRng.Next()).Take(3 + _attackRng.Next(6))];
                _attackNetworks = [.. Enumerable.Range(0, 10 + _attackRng.Next(31)).Select(_ => NewNetwork(_attackRng))];
                _attackRatePerMs = _attackNetworks.Length * (20 + (80 * _attackRng.NextDouble())) / DayMs;
                Injection = new Injection(scenario, injectAtMs, injectAtMs + DayMs);
                break;
            case Scenario.TrafficLaunch or Scenario.SdkUpgrade or Scenario.VpnToggle:
                Injection = new Injection(scenario, injectAtMs, _endMs);
                if (scenario == Scenario.VpnToggle && _vpnCountry is null)
                {
                    _vpnCountry = TrafficModel.VpnCountries.Where(c => c != _home).ElementAt(_rng.Next(TrafficModel.VpnCountries.Length - 1));
                    _vpnNetwork = NewNetwork(_rng);
                }

                break;
            case Scenario.RegionFailover:
                Injection = new Injection(scenario, injectAtMs, injectAtMs + ((2 + _rng.Next(11)) * HourMs));
                break;
            default:
                break;
        }

        if (Injection is { } inj && inj.Scenario.IsAttack())
        {
            _attackNext = inj.StartMs;
        }

        _ownerNext = startMs;
        AdvanceOwner();
    }

    /// <summary>The key's id.</summary>
    public string KeyId { get; }

    /// <summary>Its tenant.</summary>
    public string TenantId { get; }

    /// <summary>When the key starts being used.</summary>
    public long StartMs { get; }

    /// <summary>The injected scenario, if any.</summary>
    public Injection? Injection { get; }

    /// <summary>Whether the owner's clock follows daylight-saving time (shifted at the run's DST date).</summary>
    public bool ObservesDst => _dst;

    /// <summary>When the key was revoked (replay), or long.MaxValue.</summary>
    public long RevokedAtMs => _revokedAtMs;

    /// <summary>Attacker events and tokens up to the revocation (or the attack's end).</summary>
    public long AttackEvents { get; private set; }

    /// <summary>Attacker tokens up to the revocation.</summary>
    public long AttackTokens { get; private set; }

    /// <summary>Owner events.</summary>
    public long OwnerEvents { get; private set; }

    /// <summary>Time of the next event, or long.MaxValue when the stream is done.</summary>
    public long NextMs => Math.Min(_ownerNext, _attackNext);

    /// <summary>Marks the key revoked at <paramref name="atMs"/>.</summary>
    public void Revoke(long atMs) => _revokedAtMs = Math.Min(_revokedAtMs, atMs);

    /// <summary>Produces the next event (call only while <see cref="NextMs"/> is before the end).</summary>
    public ScoringEvent Next()
    {
        ScoringEvent e;
        if (_attackNext <= _ownerNext)
        {
            e = AttackEvent(_attackNext);
            var end = Injection!.EndMs;
            _attackNext += Exponential(_attackRng, GetAttackRate(_attackNext));
            if (_attackNext >= end || _attackNext >= _endMs)
            {
                _attackNext = long.MaxValue;
            }
        }
        else
        {
            e = OwnerEvent(_ownerNext);
            AdvanceOwner();
        }

        if (e.TimestampMs >= _revokedAtMs)
        {
            // The gateway refuses a revoked key: the event carries only the claimed id.
            return e with { KeyId = "", ClaimedKeyId = KeyId, Outcome = RequestOutcome.Unauthenticated, PromptTokens = 0, CompletionTokens = 0, FinishedByLength = false };
        }

        return e;
    }

    private double GetAttackRate(long t)
    {
        var rate = _attackRatePerMs;
        if (Injection!.Scenario == Scenario.GeoShift)
        {
            // the attacker keeps its own office hours (its local day), which is the owner's night
            var localHour = (((t / (double)HourMs) + _utcOffset + 12) % 24 + 24) % 24;
            rate *= Diurnal(localHour);
        }

        return rate;
    }

    private ScoringEvent AttackEvent(long t)
    {
        var s = Injection!.Scenario;
        string country;
        ulong network;
        if (s == Scenario.KeySharing)
        {
            var user = _attackRng.Next(_attackNetworks.Length);
            network = _attackNetworks[user];
            country = _attackCountries[user % _attackCountries.Length];
        }
        else
        {
            network = _attackNetworks[_attackRng.Next(_attackNetworks.Length)];
            country = _attackCountry;
        }

        int requested;
        bool maxer;
        switch (s)
        {
            case Scenario.LeakedBurst or Scenario.LeakedBurstNewKey:
                maxer = _attackRng.NextDouble() < 0.8;
                break;
            case Scenario.LowAndSlow:
                maxer = _attackRng.NextDouble() < 0.9;
                break;
            case Scenario.MaxTokensMaxing:
                maxer = true;
                break;
            default:
                maxer = _habit == 2 && _attackRng.NextDouble() < 0.8; // copies the owner's habit
                break;
        }

        requested = maxer ? 100_000 : (_habit == 1 && s is Scenario.GeoShift ? -1 : 256 << _attackRng.Next(3));
        var e = MakeCall(_attackRng, t, country, network, requested, maxer ? 1.5 : 1.0);
        AttackEvents += t < _revokedAtMs ? 1 : 0;
        AttackTokens += t < _revokedAtMs ? e.TotalTokens : 0;
        return e;
    }

    private ScoringEvent OwnerEvent(long t)
    {
        OwnerEvents++;
        var s = Injection?.Scenario ?? Scenario.None;
        var injected = Injection is { } inj && t >= inj.StartMs && t < inj.EndMs;

        string country;
        ulong network;
        var r = _rng.Next(_regions.Length > 1 ? 1000 : 1);
        var region = 0;
        if (_regions.Length > 1)
        {
            var u = r / 1000.0;
            var acc = 0.0;
            for (var i = 0; i < _regions.Length; i++)
            {
                acc += _regionWeights[i];
                if (u < acc)
                {
                    region = i;
                    break;
                }
            }
        }

        country = _regions[region];
        network = region == 0 ? _homeNetworks[_rng.Next(_homeNetworks.Length)] : _regionNetworks[region];

        if (_vpnCountry is not null && (s != Scenario.VpnToggle || injected) && InVpnSession(t))
        {
            country = _vpnCountry;
            network = _vpnNetwork;
        }

        if (injected && s == Scenario.RegionFailover)
        {
            country = TrafficModel.FailoverFor(_home);
            network = _homeNetworks[0] ^ 0x5A5A5A;
        }

        if (injected && s == Scenario.TrafficLaunch && _rng.NextDouble() < 0.3)
        {
            network = _homeNetworks[0] ^ 0x00FF00; // the launch's new autoscaled workers, same country
        }

        var habit = injected && s == Scenario.SdkUpgrade ? 2 : _habit;
        var requested = habit switch
        {
            1 => -1,
            2 => _rng.NextDouble() < (injected && s == Scenario.SdkUpgrade ? 1.0 : 0.8) ? TrafficModel.TierMaxTokens : 1024,
            _ => _rng.NextDouble() < 0.01 ? TrafficModel.TierMaxTokens : 256 << _rng.Next(3),
        };
        return MakeCall(_rng, t, country, network, requested, 1.0);
    }

    private ScoringEvent MakeCall(Random rng, long t, string country, ulong network, int requested, double sizeFactor)
    {
        var effective = requested < 0 ? 1024 : Math.Min(requested, TrafficModel.TierMaxTokens);
        var prompt = (int)Math.Min(100_000, 400 * sizeFactor * Math.Exp(Gaussian(rng)));
        var wanted = (int)(250 * sizeFactor * sizeFactor * Math.Exp(0.8 * Gaussian(rng)));
        var completion = Math.Min(wanted, effective);
        var u = rng.NextDouble();
        var outcome = u < 0.01 ? RequestOutcome.RateLimited : u < 0.015 ? RequestOutcome.UpstreamError : RequestOutcome.Ok;
        return new ScoringEvent
        {
            TimestampMs = t,
            KeyId = KeyId,
            ClaimedKeyId = "",
            TenantId = TenantId,
            Country = country,
            Network = network,
            Model = _models[rng.Next(_models.Length)],
            Outcome = outcome,
            PromptTokens = outcome == RequestOutcome.Ok ? prompt : 0,
            CompletionTokens = outcome == RequestOutcome.Ok ? completion : 0,
            MaxTokensRequested = requested,
            MaxTokensEffective = effective,
            FinishedByLength = outcome == RequestOutcome.Ok && wanted >= effective,
        };
    }

    private bool InVpnSession(long t)
    {
        var day = t / DayMs;
        if (day != _vpnDay)
        {
            _vpnDay = day;
            var dayRng = new Random(StableSeed(_seed, _index, day));
            if (dayRng.NextDouble() < (_vpnDayProbability > 0 ? _vpnDayProbability : 0.5))
            {
                var localStart = 8 + dayRng.Next(10);
                _vpnFrom = (day * DayMs) + ((localStart - _utcOffset) * HourMs);
                _vpnTo = _vpnFrom + ((1 + dayRng.Next(6)) * HourMs);
            }
            else
            {
                _vpnFrom = _vpnTo = -1;
            }
        }

        return t >= _vpnFrom && t < _vpnTo;
    }

    private void AdvanceOwner()
    {
        if (_sessionLeft > 0)
        {
            _sessionLeft--;
            _ownerNext += (2 + _rng.Next(14)) * 1000L;
            return;
        }

        // non-homogeneous Poisson sessions by thinning against the peak rate
        var sessionsPerMs = _dailyRate / _sessionMean / DayMs;
        var peak = sessionsPerMs * 2.0 * LaunchFactor(long.MaxValue);
        var t = _ownerNext;
        while (true)
        {
            t += Exponential(_rng, peak);
            if (t >= _endMs)
            {
                _ownerNext = long.MaxValue;
                return;
            }

            var rate = sessionsPerMs * Intensity(t) * LaunchFactor(t);
            if (_rng.NextDouble() * peak <= rate)
            {
                break;
            }
        }

        _ownerNext = t;
        _sessionLeft = (int)Math.Round(-Math.Log(1 - _rng.NextDouble()) * (_sessionMean - 1));
    }

    private double LaunchFactor(long t)
    {
        if (Injection is not { Scenario: Scenario.TrafficLaunch } inj)
        {
            return 1;
        }

        var factor = _launchFactor ??= 5 + (25 * new Random(StableSeed(_seed, _index, 3)).NextDouble());
        if (t == long.MaxValue)
        {
            return factor;
        }

        if (t < inj.StartMs)
        {
            return 1;
        }

        var ramp = Math.Min(1, (t - inj.StartMs) / (double)HourMs);
        return 1 + ((factor - 1) * ramp);
    }

    private double? _launchFactor;

    private double Intensity(long t)
    {
        var offset = _utcOffset + (_dst && t < _dstShiftMs ? 1 : 0);
        var localHours = (t / (double)HourMs) + offset;
        var localHour = ((localHours % 24) + 24) % 24;
        var dayOfWeek = (int)(((Math.Floor(localHours / 24) % 7) + 7) % 7); // epoch is a Monday
        var weekly = dayOfWeek >= 5 ? 0.5 : 1.0;
        return Diurnal(localHour) * weekly;
    }

    // Normalised daily curve: quiet at night, peak mid-afternoon (mean ~1 over a day; max < 2).
    private static double Diurnal(double localHour) => 1 + (0.85 * Math.Sin(2 * Math.PI * (localHour - 9) / 24));

    private string FarCountry(Random rng, double minKm)
    {
        var candidates = TrafficModel.AttackerCountries
            .Where(c => c != _home && !_regions.Contains(c) && c != _vpnCountry
                && (CountryCentroids.DistanceKm(c, _home) ?? 0) >= Math.Max(minKm, 600))
            .ToArray();
        return candidates[rng.Next(candidates.Length)];
    }

    /// <summary>
    /// A seed that is the same in every process (generator v2). Version 1 used <see cref="HashCode.Combine{T1, T2}"/>,
    /// which .NET randomises per process, so its "seeded" populations differed from run to run.
    /// </summary>
    private static int StableSeed(long a, long b, long c)
    {
        // SplitMix64 finaliser over the three values
        var x = unchecked(((ulong)a * 0x9E3779B97F4A7C15UL) ^ ((ulong)b * 0xBF58476D1CE4E5B9UL) ^ ((ulong)c * 0x94D049BB133111EBUL));
        x ^= x >> 30;
        x = unchecked(x * 0xBF58476D1CE4E5B9UL);
        x ^= x >> 27;
        x = unchecked(x * 0x94D049BB133111EBUL);
        x ^= x >> 31;
        return (int)(x & 0x7FFF_FFFF);
    }

    private static ulong NewNetwork(Random rng) => 0x8000_0000_0000_0000UL | (uint)rng.Next(1 << 24);

    private static long Exponential(Random rng, double ratePerMs) =>
        Math.Max(1, (long)(-Math.Log(1 - rng.NextDouble()) / Math.Max(ratePerMs, 1e-15)));

    private static double Gaussian(Random rng)
    {
        var u1 = 1 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private T Pick<T>(T[] items, Func<T, double> weight)
    {
        var total = items.Sum(weight);
        var u = _rng.NextDouble() * total;
        foreach (var item in items)
        {
            u -= weight(item);
            if (u <= 0)
            {
                return item;
            }
        }

        return items[^1];
    }
}

using System.Globalization;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Geography;
using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Detection.Origin;

/// <summary>Population rates the origin detector falls back on while a key has little history.</summary>
public sealed class OriginPriors
{
    /// <summary>Share of key-days on which a key used a country it had never used before.</summary>
    public double NewCountryPerKeyDay { get; set; } = 0.01;

    /// <summary>Impossible-travel transitions per active key-hour.</summary>
    public double ImpossibleTravelPerHour { get; set; } = 0.01;

    /// <summary>Never-seen networks per active key-hour (after the key's first day).</summary>
    public double NewNetworksPerHour { get; set; } = 0.05;

    /// <summary>Share of active key-hours with two or more countries.</summary>
    public double MultiCountryHourShare { get; set; } = 0.01;
}

/// <summary>
/// Origin family for one key: a country the key never used, several countries within an hour, impossible travel
/// (great-circle distance between country centroids over elapsed time above <see cref="ScoringOptions.ImpossibleSpeedKmh"/>),
/// and never-seen networks (/24, /48). Every rate is learned per key — a key that legitimately runs in several
/// regions, or toggles a VPN, builds up its own tolerance — and blended with the population's rate while the key is new.
/// </summary>
public sealed class OriginDetector
{
    private const long HourMs = 3_600_000;
    private const long DayMs = 86_400_000;
    private const int MaxCountries = 24;
    private const int MaxNetworks = 512;

    private readonly List<CountryStat> _countries = new(2);
    private readonly HashSet<ulong> _networks = [];
    private readonly RingBuffer<long> _recentImpossible = new(64);
    private readonly RingBuffer<long> _recentNewCountryJumps = new(256);
    private readonly RingBuffer<long> _recentNewNetworks = new(64);
    private readonly NoveltyShare _countryNovelty = new(40);
    private readonly NoveltyShare _networkNovelty = new(40);
    private readonly Dictionary<ulong, long> _networkFirstSeen = [];
    private readonly HashSet<ulong> _suspiciousNetworks = [];
    private string _lastCountry = "";
    private long _lastCountryMs = -1;

    // learned history (hour and day units), excluding alerted hours
    private long _day = -1;
    private bool _dayHadNewCountry;
    private long _hour = -1;
    private bool _hourAlerted;
    private int _hourImpossible;
    private int _hourNewNetworks;
    private int _activeDays;
    private int _newCountryDays;
    private int _activeHours;
    private int _impossibleHistory;
    private int _newNetworkHistory;
    private int _multiCountryHours;
    private long _firstSeenMs = -1;
    private long _learningEndMs = -1;
    private long _events;
    private long _episodeStartMs = -1;
    private long _lastAlertMs = -1;

    /// <summary>The network family's latest signal (computed with the origin's).</summary>
    public DetectorSignal NetworkSignal { get; private set; } = DetectorSignal.Quiet(DetectorFamily.Network);

    /// <summary>Days with traffic (learned).</summary>
    public int ActiveDays => _activeDays;

    /// <summary>Days on which a new country appeared (learned).</summary>
    public int NewCountryDays => _newCountryDays;

    /// <summary>Active hours (learned, alerted hours left out).</summary>
    public int ActiveHours => _activeHours;

    /// <summary>Impossible-travel transitions in the learned hours.</summary>
    public int ImpossibleTravelHistory => _impossibleHistory;

    /// <summary>Never-seen networks in the learned hours.</summary>
    public int NewNetworkHistory => _newNetworkHistory;

    /// <summary>Learned hours with two or more countries.</summary>
    public int MultiCountryHours => _multiCountryHours;

    /// <summary>Countries the key has used, most used first.</summary>
    public IEnumerable<string> Countries => _countries.OrderByDescending(c => c.Events).Select(c => c.Code);

    /// <summary>Distinct networks seen (capped).</summary>
    public int NetworkCount => _networks.Count;

    /// <summary>Countries with an event in the last hour before <paramref name="nowMs"/>.</summary>
    public int CountriesInLastHour(long nowMs)
    {
        var n = 0;
        foreach (var c in _countries)
        {
            if (nowMs - c.LastSeenMs <= HourMs)
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Never-seen networks in the last hour before <paramref name="nowMs"/>.</summary>
    public int NewNetworksInLastHour(long nowMs) => CountSince(_recentNewNetworks, nowMs - HourMs);

    /// <summary>Impossible-travel transitions in the last hour before <paramref name="nowMs"/>.</summary>
    public int ImpossibleTravelInLastHour(long nowMs) => CountSince(_recentImpossible, nowMs - HourMs);

    /// <summary>Scores one event of the key.</summary>
    /// <remarks>
    /// <paramref name="suspicious"/> (the volume family is alerting) keeps the event out of the learning period, so a
    /// brand-new key that is hammered before it has a history does not learn the attacker's country as home.
    /// </remarks>
    public DetectorSignal Observe(long timestampMs, string country, ulong network, OriginPriors priors, ScoringOptions options, bool suspicious = false)
    {
        if (_firstSeenMs < 0)
        {
            _firstSeenMs = timestampMs;
        }

        RollHour(timestampMs, options);
        RollDay(timestampMs);
        _events += suspicious ? 0 : 1;
        if (suspicious && (_learningEndMs < 0 || timestampMs - _learningEndMs <= 10 * 60_000))
        {
            // A burst during the learning period (or one whose first calls ended it: the learning period also ends
            // after OriginLearningEvents calls, and a burst makes those in seconds): what arrived with it in the last
            // ten minutes is not "home".
            foreach (var c in _countries)
            {
                if (c.FirstSeenMs > _firstSeenMs && timestampMs - c.FirstSeenMs <= 10 * 60_000)
                {
                    c.Suspicious = true;
                }
            }

            foreach (var (net, first) in _networkFirstSeen)
            {
                if (first > _firstSeenMs && timestampMs - first <= 10 * 60_000)
                {
                    _suspiciousNetworks.Add(net);
                }
            }
        }

        if (_learningEndMs < 0 && !suspicious && (timestampMs - _firstSeenMs >= options.OriginLearningHours * HourMs || _events > options.OriginLearningEvents))
        {
            _learningEndMs = timestampMs;
        }

        var learning = _learningEndMs < 0 && !suspicious;

        // countries
        var isNewCountry = false;
        string? travelFrom = null;
        double travelKmh = 0;
        if (country.Length > 0)
        {
            var stat = Find(country);
            if (stat is null)
            {
                isNewCountry = !learning;
                if (_countries.Count < MaxCountries)
                {
                    stat = new CountryStat(country, timestampMs) { Suspicious = learning is false && _learningEndMs < 0 };
                    _countries.Add(stat);
                }

                if (isNewCountry)
                {
                    _dayHadNewCountry = true;
                }
            }

            if (_lastCountry.Length > 0 && !string.Equals(_lastCountry, country, StringComparison.Ordinal))
            {
                var km = CountryCentroids.DistanceKm(_lastCountry, country);
                var hours = Math.Max(timestampMs - _lastCountryMs, 1000) / (double)HourMs;
                if (km is { } d && d >= options.ImpossibleMinDistanceKm && d / hours > options.ImpossibleSpeedKmh
                    && !(IsTolerated(_lastCountry) && IsTolerated(country)))
                {
                    _recentImpossible.AddLast(timestampMs);
                    _hourImpossible++;
                    if (IsRecentNewCountry(_lastCountry, timestampMs, options) || IsRecentNewCountry(country, timestampMs, options))
                    {
                        _recentNewCountryJumps.AddLast(timestampMs);
                    }

                    travelFrom = _lastCountry;
                    travelKmh = d / hours;
                }
            }

            if (stat is not null)
            {
                stat.Events++;
                if (stat.LastDay != timestampMs / DayMs)
                {
                    stat.LastDay = timestampMs / DayMs;
                    stat.Days++;
                }

                stat.LastSeenMs = timestampMs;
            }

            _lastCountry = country;
            _lastCountryMs = timestampMs;
        }

        // networks
        if (network != 0 && _networks.Count < MaxNetworks && _networks.Add(network))
        {
            _networkFirstSeen[network] = timestampMs;
            if (suspicious && _learningEndMs < 0)
            {
                _suspiciousNetworks.Add(network);
            }

            if (!learning)
            {
                _recentNewNetworks.AddLast(timestampMs);
                _hourNewNetworks++;
            }
        }

        // share of recent calls from countries / networks first used (after learning) within the last week
        var novelCountry = !learning && country.Length > 0 && Find(country) is { } cs
            && cs.FirstSeenMs > _firstSeenMs && (cs.FirstSeenMs > _learningEndMs || cs.Suspicious) && timestampMs - cs.FirstSeenMs <= 7 * DayMs;
        var novelNetwork = !learning && network != 0 && _networkFirstSeen.TryGetValue(network, out var nf)
            && nf > _firstSeenMs && (nf > _learningEndMs || _suspiciousNetworks.Contains(network)) && timestampMs - nf <= 7 * DayMs;
        var accepted = _episodeStartMs >= 0 && timestampMs - _episodeStartMs >= options.RegimeAcceptanceHours * HourMs;
        var pCountryShare = _countryNovelty.Observe(novelCountry, accepted);
        var pNetworkShare = _networkNovelty.Observe(novelNetwork, accepted);

        if (learning)
        {
            NetworkSignal = DetectorSignal.Quiet(DetectorFamily.Network);
            return DetectorSignal.Quiet(DetectorFamily.Origin);
        }

        // p-values, each against the key's own rate blended with the population's (priorWeight pseudo-units)
        var a = options.OriginPriorWeight;
        var pNewCountry = 1.0;
        var newCountryActive = Find(country) is { } s && timestampMs - s.FirstSeenMs <= HourMs && s.FirstSeenMs > _firstSeenMs
            && (s.FirstSeenMs > _learningEndMs || s.Suspicious);
        if (isNewCountry || newCountryActive)
        {
            pNewCountry = (_newCountryDays + (a * priors.NewCountryPerKeyDay)) / (_activeDays + a);
        }

        var impossible = CountSince(_recentImpossible, timestampMs - HourMs);
        var pTravel = impossible == 0 ? 1.0 : PValues.PoissonUpperTail(impossible,
            (_impossibleHistory + (a * 24 * priors.ImpossibleTravelPerHour)) / (_activeHours + (a * 24)));

        var newNetworks = CountSince(_recentNewNetworks, timestampMs - HourMs);
        var pNetworks = newNetworks == 0 ? 1.0 : PValues.PoissonUpperTail(newNetworks,
            (_newNetworkHistory + (a * 24 * priors.NewNetworksPerHour)) / (_activeHours + (a * 24)));
        var pNet = Math.Min(1.0, 2 * Math.Min(pNetworks, pNetworkShare));
        NetworkSignal = pNet > options.ReportP ? new DetectorSignal(DetectorFamily.Network, pNet, null)
            : new DetectorSignal(DetectorFamily.Network, pNet, pNetworks <= pNetworkShare
                ? string.Create(CultureInfo.InvariantCulture, $"{newNetworks} never-seen networks in the last hour (p={pNet:G2})")
                : string.Create(CultureInfo.InvariantCulture, $"{_networkNovelty.Novel} of the last {_networkNovelty.Count} calls from networks first used this week (p={pNet:G2})"));

        var countriesInHour = CountriesInLastHour(timestampMs);
        var pMulti = countriesInHour < 2 ? 1.0
            : Math.Pow((_multiCountryHours + (a * 24 * priors.MultiCountryHourShare)) / (_activeHours + (a * 24)), countriesInHour - 1);

        var min = Math.Min(Math.Min(pNewCountry, pTravel), Math.Min(pCountryShare, pMulti));
        var p = Math.Min(1.0, 4 * min);
        if (p <= options.OriginAlertP)
        {
            _hourAlerted = true;
            if (_episodeStartMs < 0 || timestampMs - _lastAlertMs > HourMs)
            {
                _episodeStartMs = timestampMs;
            }

            _lastAlertMs = timestampMs;
        }

        if (p > options.ReportP)
        {
            return new DetectorSignal(DetectorFamily.Origin, p, null);
        }

        string reason;
        if (min == pTravel && travelFrom is not null)
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"impossible travel: {travelFrom} -> {country} at {travelKmh:0} km/h; {impossible} such jumps in the last hour (p={p:G2})");
        }
        else if (min == pTravel)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"impossible travel: {impossible} jumps in the last hour (p={p:G2})");
        }
        else if (min == pNewCountry)
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"new country {country}: the key had only used {string.Join(",", Countries.Where(c => c != country).Take(5))} (p={p:G2})");
        }
        else if (min == pMulti)
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"{countriesInHour} countries within an hour (p={p:G2})");
        }
        else
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"{_countryNovelty.Novel} of the last {_countryNovelty.Count} calls from countries first used this week (p={p:G2})");
        }

        return new DetectorSignal(DetectorFamily.Origin, p, reason);
    }

    /// <summary>
    /// The hard rule for a key used at the same time from a country it never used before: at least
    /// <see cref="ScoringOptions.ConcurrentNewCountryJumps"/> impossible-travel jumps within the hour to or from a
    /// country first used (after the learning period) in the last 24 hours, on a key with at least three days of
    /// history. One VPN session or one failover makes two jumps at most; an owner and a thief interleaving make many.
    /// Returns the reason, or null.
    /// </summary>
    public string? ConcurrentUseFromNewCountry(long nowMs, ScoringOptions options)
    {
        if (_activeDays < 3)
        {
            return null; // a key's regions are not known yet in its first days (multi-region keys show them slowly)
        }

        var jumps = CountSince(_recentNewCountryJumps, nowMs - HourMs);
        if (jumps >= options.ConcurrentNewCountryJumps)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"concurrent use from a new country: {jumps} impossible-travel jumps within an hour between {_lastCountry} and the key's other countries");
        }

        var window = options.ConcurrentNewCountryWindowHours;
        var slow = CountSince(_recentNewCountryJumps, nowMs - (window * HourMs));
        return slow >= options.ConcurrentNewCountryJumpsPerDay
            ? string.Create(CultureInfo.InvariantCulture,
                $"concurrent use from a new country: {slow} impossible-travel jumps within {window} h between {_lastCountry} and the key's other countries")
            : null;
    }

    // A country first used in the key's first three days may be one of its own regions showing up late (a multi-region
    // deployment's smaller region); only a country that appears once the key is established counts as new here.
    private bool IsRecentNewCountry(string country, long nowMs, ScoringOptions options) =>
        _learningEndMs >= 0 && Find(country) is { } c && c.FirstSeenMs >= _learningEndMs && c.FirstSeenMs - _firstSeenMs >= 3 * DayMs
        && nowMs - c.FirstSeenMs <= options.ConcurrentNewCountryWindowHours * HourMs;

    private static int CountSince(RingBuffer<long> buffer, long sinceMs)
    {
        var n = 0;
        for (var i = buffer.Count - 1; i >= 0 && buffer[i] > sinceMs; i--)
        {
            n++;
        }

        return n;
    }

    private CountryStat? Find(string country)
    {
        foreach (var c in _countries)
        {
            if (string.Equals(c.Code, country, StringComparison.Ordinal))
            {
                return c;
            }
        }

        return null;
    }

    // A country is part of the key's learned multi-region footprint once it carried traffic on several days.
    private bool IsTolerated(string country) => Find(country) is { Days: >= 3 };

    private void RollHour(long nowMs, ScoringOptions options)
    {
        var hour = nowMs / HourMs;
        if (hour == _hour)
        {
            return;
        }

        if (_hour >= 0)
        {
            var accepted = _episodeStartMs >= 0 && nowMs - _episodeStartMs >= options.RegimeAcceptanceHours * HourMs;
            if (!_hourAlerted || accepted)
            {
                _activeHours++;
                _impossibleHistory += _hourImpossible;
                _newNetworkHistory += _hourNewNetworks;
                if (CountriesInLastHour(nowMs) >= 2)
                {
                    _multiCountryHours++;
                }
            }
        }

        _hour = hour;
        _hourAlerted = false;
        _hourImpossible = 0;
        _hourNewNetworks = 0;
    }

    private void RollDay(long nowMs)
    {
        var day = nowMs / DayMs;
        if (day == _day)
        {
            return;
        }

        if (_day >= 0)
        {
            _activeDays++;
            if (_dayHadNewCountry)
            {
                _newCountryDays++;
            }
        }

        _day = day;
        _dayHadNewCountry = false;
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_countries.Count);
        foreach (var c in _countries)
        {
            w.Write(c.Code);
            w.Write(c.FirstSeenMs);
            w.Write(c.LastSeenMs);
            w.Write(c.LastDay);
            w.Write(c.Days);
            w.Write(c.Events);
            w.Write(c.Suspicious);
        }

        w.Write(_networkFirstSeen.Count);
        foreach (var (network, first) in _networkFirstSeen)
        {
            w.Write(network);
            w.Write(first);
            w.Write(_suspiciousNetworks.Contains(network));
        }

        w.Write(_recentImpossible);
        w.Write(_recentNewCountryJumps);
        w.Write(_recentNewNetworks);
        _countryNovelty.Save(w);
        _networkNovelty.Save(w);
        w.Write(_lastCountry);
        foreach (var v in (ReadOnlySpan<long>)[_lastCountryMs, _day, _hour, _firstSeenMs, _learningEndMs, _events, _episodeStartMs, _lastAlertMs])
        {
            w.Write(v);
        }

        foreach (var v in (ReadOnlySpan<int>)[_hourImpossible, _hourNewNetworks, _activeDays, _newCountryDays, _activeHours, _impossibleHistory, _newNetworkHistory, _multiCountryHours])
        {
            w.Write(v);
        }

        w.Write(_dayHadNewCountry);
        w.Write(_hourAlerted);
    }

    internal void Load(BinaryReader r)
    {
        _countries.Clear();
        for (var n = StateCodec.ReadCount(r); n > 0; n--)
        {
            var c = new CountryStat(r.ReadString(), r.ReadInt64())
            {
                LastSeenMs = r.ReadInt64(),
                LastDay = r.ReadInt64(),
                Days = r.ReadInt32(),
                Events = r.ReadInt64(),
                Suspicious = r.ReadBoolean(),
            };
            _countries.Add(c);
        }

        _networks.Clear();
        _networkFirstSeen.Clear();
        _suspiciousNetworks.Clear();
        for (var n = StateCodec.ReadCount(r); n > 0; n--)
        {
            var network = r.ReadUInt64();
            _networks.Add(network);
            _networkFirstSeen[network] = r.ReadInt64();
            if (r.ReadBoolean())
            {
                _suspiciousNetworks.Add(network);
            }
        }

        r.Read(_recentImpossible);
        r.Read(_recentNewCountryJumps);
        r.Read(_recentNewNetworks);
        _countryNovelty.Load(r);
        _networkNovelty.Load(r);
        _lastCountry = r.ReadString();
        _lastCountryMs = r.ReadInt64();
        _day = r.ReadInt64();
        _hour = r.ReadInt64();
        _firstSeenMs = r.ReadInt64();
        _learningEndMs = r.ReadInt64();
        _events = r.ReadInt64();
        _episodeStartMs = r.ReadInt64();
        _lastAlertMs = r.ReadInt64();
        _hourImpossible = r.ReadInt32();
        _hourNewNetworks = r.ReadInt32();
        _activeDays = r.ReadInt32();
        _newCountryDays = r.ReadInt32();
        _activeHours = r.ReadInt32();
        _impossibleHistory = r.ReadInt32();
        _newNetworkHistory = r.ReadInt32();
        _multiCountryHours = r.ReadInt32();
        _dayHadNewCountry = r.ReadBoolean();
        _hourAlerted = r.ReadBoolean();
    }

    private sealed class CountryStat(string code, long firstSeenMs)
    {
        public string Code { get; } = code;

        public long FirstSeenMs { get; } = firstSeenMs;

        public long LastSeenMs { get; set; } = firstSeenMs;

        public long LastDay { get; set; } = -1;

        public int Days { get; set; }

        public long Events { get; set; }

        /// <summary>First seen during the learning period, but in an alerting burst: never "home".</summary>
        public bool Suspicious { get; set; }
    }
}

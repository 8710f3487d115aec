using System.Globalization;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Geography;

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
    private readonly RingBuffer<long> _recentNewNetworks = new(64);
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
    private long _episodeStartMs = -1;
    private long _lastAlertMs = -1;

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
    public DetectorSignal Observe(long timestampMs, string country, ulong network, OriginPriors priors, ScoringOptions options)
    {
        if (_firstSeenMs < 0)
        {
            _firstSeenMs = timestampMs;
        }

        RollHour(timestampMs, options);
        RollDay(timestampMs);
        var learning = timestampMs - _firstSeenMs < options.OriginLearningHours * HourMs;

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
                    stat = new CountryStat(country, timestampMs);
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
        if (network != 0 && _networks.Count < MaxNetworks && _networks.Add(network) && !learning)
        {
            _recentNewNetworks.AddLast(timestampMs);
            _hourNewNetworks++;
        }

        if (learning)
        {
            return DetectorSignal.Quiet(DetectorFamily.Origin);
        }

        // p-values, each against the key's own rate blended with the population's (priorWeight pseudo-units)
        var a = options.OriginPriorWeight;
        var pNewCountry = 1.0;
        var newCountryActive = Find(country) is { } s && timestampMs - s.FirstSeenMs <= HourMs && s.FirstSeenMs - _firstSeenMs >= options.OriginLearningHours * HourMs;
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

        var countriesInHour = CountriesInLastHour(timestampMs);
        var pMulti = countriesInHour < 2 ? 1.0
            : Math.Pow((_multiCountryHours + (a * 24 * priors.MultiCountryHourShare)) / (_activeHours + (a * 24)), countriesInHour - 1);

        var min = Math.Min(Math.Min(pNewCountry, pTravel), Math.Min(pNetworks, pMulti));
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
            reason = string.Create(CultureInfo.InvariantCulture, $"{newNetworks} never-seen networks in the last hour (p={p:G2})");
        }

        return new DetectorSignal(DetectorFamily.Origin, p, reason);
    }

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

    private sealed class CountryStat(string code, long firstSeenMs)
    {
        public string Code { get; } = code;

        public long FirstSeenMs { get; } = firstSeenMs;

        public long LastSeenMs { get; set; } = firstSeenMs;

        public long LastDay { get; set; } = -1;

        public int Days { get; set; }

        public long Events { get; set; }
    }
}

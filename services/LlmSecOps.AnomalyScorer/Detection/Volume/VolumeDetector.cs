using System.Globalization;
using LlmSecOps.AnomalyScorer.Detection.Iid;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Detection.Volume;

/// <summary>Population priors for the volume series, refreshed by the scorer from all keys.</summary>
public sealed class VolumePriors
{
    /// <summary>Requests per active minute.</summary>
    public CountPrior PerMinute { get; set; } = new(2, 2);

    /// <summary>ln(1 + tokens) per active minute.</summary>
    public CountPrior LogTokensPerMinute { get; set; } = new(7, 1);

    /// <summary>Requests per hour (zero hours included).</summary>
    public CountPrior PerHour { get; set; } = new(3, 4);
}

/// <summary>
/// Volume family for one key: per-minute request bursts (as the current minute fills, so a burst is caught within its
/// first minute), calls at hours of the day the key does not use (daily rhythm), the current hour against hourly history, and a windowed mixture martingale over
/// closed hours' p-values for slower level shifts (change-point, as in ML.NET; p-value 1/M: Ville's inequality bounds it
/// for the full martingale, and it is an approximation for the sliding window that ML.NET also uses).
/// Alerted minutes and hours stay out of the baseline until an alert episode has lasted
/// <see cref="ScoringOptions.RegimeAcceptanceHours"/>, after which the new level is accepted as normal.
/// </summary>
public sealed class VolumeDetector
{
    private const long MinuteMs = 60_000;
    private const long HourMs = 3_600_000;
    private const int MartingaleWindow = 24;

    private readonly RobustBurstDetector _perMinute;
    private readonly RobustBurstDetector _tokensPerMinute;
    private readonly RobustBurstDetector _perHour;
    private readonly RingBuffer<double> _logUpdates = new(MartingaleWindow);
    private readonly int[] _weekOfHours = new int[168];
    private readonly long[] _hourOfDayLastUsed = [-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1];
    private readonly NoveltyShare _offHours = new(40);
    private long _firstDay = -1;
    private long _firstHour = -1;
    private long _minute = -1;
    private int _minuteCount;
    private long _minuteTokens;
    private bool _minuteAlerted;
    private long _hour = -1;
    private int _hourCount;
    private bool _hourAlerted;
    private double _logMartingale;
    private long _episodeStartMs = -1;
    private long _lastAlertMs = -1;

    /// <summary>Creates the detector.</summary>
    public VolumeDetector(BurstModel model = BurstModel.Robust)
    {
        _perMinute = new RobustBurstDetector(128, model);
        _tokensPerMinute = new RobustBurstDetector(128);
        _perHour = new RobustBurstDetector(168);
    }

    /// <summary>Requests in the current minute.</summary>
    public int CurrentMinuteCount => _minuteCount;

    /// <summary>The key's median requests per active minute (NaN while it has no history).</summary>
    public double MedianPerMinute => _perMinute.Median;

    /// <summary>The key's median requests per hour (NaN while it has no history).</summary>
    public double MedianPerHour => _perHour.Median;

    /// <summary>Median ln(1 + tokens) per active minute (NaN while it has no history).</summary>
    public double MedianLogTokensPerMinute => _tokensPerMinute.Median;

    /// <summary>How many active minutes the key's baseline holds.</summary>
    public int LearnedMinutes => _perMinute.Count;

    /// <summary>Scores one event of the key (events arrive in time order per key).</summary>
    public DetectorSignal Observe(long timestampMs, int tokens, VolumePriors priors, ScoringOptions options)
    {
        var changePointP = 1.0;
        var minute = timestampMs / MinuteMs;
        if (minute != _minute)
        {
            CloseMinute(timestampMs, options);
            _minute = minute;
        }

        var hour = timestampMs / HourMs;
        if (hour != _hour)
        {
            changePointP = CloseHours(hour, timestampMs, priors, options);
            _hour = hour;
        }

        _minuteCount++;
        _minuteTokens += tokens;
        _hourCount++;

        // rhythm: calls at an hour of the day (UTC) the key has not used in the last 14 days, once it has 7 days
        var day = timestampMs / (24 * HourMs);
        _firstDay = _firstDay < 0 ? day : _firstDay;
        var hourOfDay = (int)(hour % 24);
        var offHour = day - _firstDay >= 7 && !UsedRecently(hourOfDay, day)
            && (options.RhythmToleranceHours == 0 || (!UsedRecently((hourOfDay + 23) % 24, day) && !UsedRecently((hourOfDay + 1) % 24, day)));
        var pRhythm = _offHours.Observe(offHour, RegimeAccepted(timestampMs, options));

        var pRequests = _perMinute.PValue(_minuteCount, priors.PerMinute, options.PriorWeight);
        var pHour = HourPValue(_hour, _hourCount, priors, options);
        if (_logMartingale > 0)
        {
            changePointP = Math.Min(changePointP, Math.Exp(-_logMartingale));
        }

        // Tokens are deliberately not tested here: more tokens per call is the max-tokens family's evidence, and the
        // two families must stay independent for their agreement to mean anything.
        var min = Math.Min(Math.Min(pRequests, pHour), Math.Min(changePointP, pRhythm));
        var p = Math.Min(1.0, 4 * min);
        if (p <= options.VolumeAlertP)
        {
            _minuteAlerted = true;
            _hourAlerted = true;
            if (_episodeStartMs < 0 || timestampMs - _lastAlertMs > HourMs)
            {
                _episodeStartMs = timestampMs;
            }

            _lastAlertMs = timestampMs;
        }

        if (p > options.VolumeAlertP || RegimeAccepted(timestampMs, options))
        {
            _hourOfDayLastUsed[hourOfDay] = day;
        }

        if (p > options.ReportP)
        {
            return new DetectorSignal(DetectorFamily.Volume, p, null);
        }

        string reason;
        if (min == pRequests)
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"burst: {_minuteCount} requests this minute vs a typical {Format(_perMinute.Median)} per active minute (p={p:G2})");
        }
        else if (min == pRhythm)
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"daily rhythm: {_offHours.Novel} of the last {_offHours.Count} calls at hours of the day the key had not used for two weeks (p={p:G2})");
        }
        else if (min == pHour)
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"hourly volume: {_hourCount} requests this hour vs a typical {Format(_perHour.Median)} (p={p:G2})");
        }
        else
        {
            reason = string.Create(CultureInfo.InvariantCulture,
                $"change point: hourly volume martingale {Math.Exp(_logMartingale):G3} over {MartingaleWindow} h (p<={p:G2})");
        }

        return new DetectorSignal(DetectorFamily.Volume, p, reason);
    }

    /// <summary>
    /// Hourly counts are over-dispersed (requests come in sessions): both hourly tests count in units of the key's
    /// typical requests per active minute, which turns a Poisson test on requests into one on sessions.
    /// </summary>
    private double HourPValue(long hour, int count, VolumePriors priors, ScoringOptions options)
    {
        var d = _perMinute.Median;
        d = double.IsNaN(d) ? Math.Max(priors.PerMinute.Median, 1) : Math.Max(d, 1);
        var scaled = count / d;
        var p = _perHour.PValue(scaled, new CountPrior(priors.PerHour.Median / d, priors.PerHour.Scale / d), options.PriorWeight, d);
        return Math.Min(p, HourOfDayPValue(hour, count, d, options.RhythmToleranceHours));
    }

    /// <summary>
    /// The daily rhythm: this hour's count against the most the key did in the same hour of the day over the last
    /// seven days (once it has three days of history), so traffic at the key's usual quiet hours stands out.
    /// </summary>
    private double HourOfDayPValue(long hour, int count, double dispersion, int tolerance)
    {
        if (_firstHour < 0 || hour - _firstHour < 72)
        {
            return 1.0;
        }

        var max = 0;
        for (var k = 1; k <= 7 && hour - (24 * k) >= _firstHour; k++)
        {
            // the same hour of the day and its neighbours (a daylight-saving change shifts the rhythm by an hour)
            var h = hour - (24 * k);
            max = Math.Max(max, _weekOfHours[(int)(h % 168)]);
            if (tolerance > 0)
            {
                max = Math.Max(max, Math.Max(_weekOfHours[(int)((h + 167) % 168)], _weekOfHours[(int)((h + 1) % 168)]));
            }
        }

        var m = max / dispersion;
        var lambda = m + (2 * Math.Sqrt(m + 1)) + 1;
        var c = count / dispersion;
        return c <= lambda ? 1.0 : PValues.PoissonUpperTail((int)c, lambda);
    }

    // The neighbouring hours count as used too: a daylight-saving change moves the whole rhythm by one hour in UTC.
    private bool UsedRecently(int hourOfDay, long day) => _hourOfDayLastUsed[hourOfDay] >= 0 && day - _hourOfDayLastUsed[hourOfDay] <= 14;

    private static string Format(double v) => double.IsNaN(v) ? "n/a (new key)" : v.ToString("0.#", CultureInfo.InvariantCulture);

    private bool RegimeAccepted(long nowMs, ScoringOptions options) =>
        _episodeStartMs >= 0 && nowMs - _episodeStartMs >= options.RegimeAcceptanceHours * HourMs;

    private void CloseMinute(long nowMs, ScoringOptions options)
    {
        if (_minute >= 0 && _minuteCount > 0 && (!_minuteAlerted || RegimeAccepted(nowMs, options)))
        {
            _perMinute.Learn(_minuteCount);
            _tokensPerMinute.Learn(Math.Log(1 + _minuteTokens));
        }

        _minuteCount = 0;
        _minuteTokens = 0;
        _minuteAlerted = false;
    }

    private double CloseHours(long newHour, long nowMs, VolumePriors priors, ScoringOptions options)
    {
        if (_hour < 0)
        {
            _firstHour = newHour;
            return 1.0;
        }

        var p = 1.0;
        var closed = Math.Min(newHour - _hour, 24);
        for (var i = 0; i < closed; i++)
        {
            var count = i == 0 ? _hourCount : 0;
            var closedHour = _hour + i;
            var hp = i == 0
                ? IidSpikeDetector.SideAdjust(HourPValue(closedHour, count, priors, options), AnomalySide.Positive)
                : 1 - 1e-8;
            _weekOfHours[(int)(closedHour % 168)] = !_hourAlerted || i > 0 || RegimeAccepted(nowMs, options) ? count : _weekOfHours[(int)(closedHour % 168)];
            var update = IidChangePointDetector.LogMixtureBetting(hp);
            if (_logUpdates.IsFull)
            {
                _logMartingale -= _logUpdates.PeekFirst();
            }

            _logUpdates.AddLast(update);
            _logMartingale += update;
            if (i > 0 || !_hourAlerted || RegimeAccepted(nowMs, options))
            {
                _perHour.Learn(count);
            }
        }

        if (_logMartingale > 0)
        {
            p = Math.Exp(-_logMartingale);
        }

        _hourCount = 0;
        _hourAlerted = false;
        return p;
    }

    internal void Save(BinaryWriter w)
    {
        _perMinute.Save(w);
        _tokensPerMinute.Save(w);
        _perHour.Save(w);
        w.Write(_logUpdates);
        w.Write(_weekOfHours);
        w.Write(_hourOfDayLastUsed);
        _offHours.Save(w);
        foreach (var v in (ReadOnlySpan<long>)[_firstDay, _firstHour, _minute, _minuteTokens, _hour, _episodeStartMs, _lastAlertMs])
        {
            w.Write(v);
        }

        w.Write(_minuteCount);
        w.Write(_hourCount);
        w.Write(_minuteAlerted);
        w.Write(_hourAlerted);
        w.Write(_logMartingale);
    }

    internal void Load(BinaryReader r)
    {
        _perMinute.Load(r);
        _tokensPerMinute.Load(r);
        _perHour.Load(r);
        r.Read(_logUpdates);
        r.Read(_weekOfHours);
        r.Read(_hourOfDayLastUsed);
        _offHours.Load(r);
        _firstDay = r.ReadInt64();
        _firstHour = r.ReadInt64();
        _minute = r.ReadInt64();
        _minuteTokens = r.ReadInt64();
        _hour = r.ReadInt64();
        _episodeStartMs = r.ReadInt64();
        _lastAlertMs = r.ReadInt64();
        _minuteCount = r.ReadInt32();
        _hourCount = r.ReadInt32();
        _minuteAlerted = r.ReadBoolean();
        _hourAlerted = r.ReadBoolean();
        _logMartingale = r.ReadDouble();
    }
}

using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Detection.MaxTokens;
using LlmSecOps.AnomalyScorer.Detection.Origin;
using LlmSecOps.AnomalyScorer.Detection.Population;
using LlmSecOps.AnomalyScorer.Detection.Statistics;
using LlmSecOps.AnomalyScorer.Detection.Volume;

namespace LlmSecOps.AnomalyScorer.Scoring;

/// <summary>Failed-authentication traffic for a claimed key id: reported, never acted on.</summary>
public sealed record ClaimedKeyReport(string ClaimedKeyId, long Failures, DateTimeOffset LastSeen);

/// <summary>One key's serialised state, for the periodic snapshot.</summary>
public sealed record KeySnapshot(string KeyId, string TenantId, long LastEventMs, byte[] State)
{
    /// <summary>Version of the binary layout; a snapshot of another version is not restored.</summary>
    public const byte FormatVersion = 1;
}

/// <summary>A key's current score, for the management endpoint.</summary>
public sealed record KeyScoreView(
    string KeyId,
    string TenantId,
    long Events,
    double CombinedPValue,
    bool RevokeDecided,
    IReadOnlyList<EvidenceSignal> Signals,
    IReadOnlyList<string> KnownCountries,
    DateTimeOffset LastEvent);

/// <summary>
/// The scoring engine: per-key state in memory, four detector families, Fisher's method to combine them, and the
/// decision rules (auto-revoke only on two agreeing families or a hard rule; tenant policy; allow-lists; cooldowns).
/// Event-time drives the detectors; the injected <see cref="TimeProvider"/> drives decisions, cooldowns and the
/// daily population refresh, so the same code runs live and in accelerated replay. Thread-safe (one lock).
/// </summary>
public sealed class Scorer
{
    private const long DayMs = 86_400_000;
    private const int MaxClaimedKeys = 10_000;

    /// <summary>
    /// Pairs of families whose agreement may revoke. Network with Volume is scaling out and Network with Origin is a
    /// VPN or a failover, so neither pair counts; everything else is independent evidence of a second party.
    /// </summary>
    private static readonly (DetectorFamily, DetectorFamily)[] AgreeingPairs =
    [
        (DetectorFamily.Volume, DetectorFamily.Origin), (DetectorFamily.Volume, DetectorFamily.MaxTokens),
        (DetectorFamily.Origin, DetectorFamily.MaxTokens), (DetectorFamily.Network, DetectorFamily.MaxTokens),
    ];

    private readonly ScoringOptions _options;
    private readonly TimeProvider _time;
    private readonly IDecisionSink _sink;
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tenantMaxTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Count, long LastMs)> _claimed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _modelBits = new(StringComparer.Ordinal);
    private readonly Queue<Decision> _recent = new();
    private readonly List<KeyState> _dirty = [];
    private readonly HashSet<string> _allowedKeys;
    private readonly HashSet<string> _allowedTenants;
    private readonly Lock _lock = new();
    private long _populationDay = -1;
    private DateTimeOffset? _firstEventAt;
    private long _decisionSeq;

    /// <summary>Creates a scorer.</summary>
    public Scorer(ScoringOptions options, TimeProvider time, IDecisionSink sink)
    {
        _options = options;
        _time = time;
        _sink = sink;
        _allowedKeys = new HashSet<string>(options.AllowedKeys, StringComparer.Ordinal);
        _allowedTenants = new HashSet<string>(options.AllowedTenants, StringComparer.Ordinal);
    }

    /// <summary>Volume priors learned from the population.</summary>
    public VolumePriors VolumePriors { get; } = new();

    /// <summary>Origin priors learned from the population.</summary>
    public OriginPriors OriginPriors { get; } = new();

    /// <summary>Max-tokens priors learned from the population.</summary>
    public MaxTokensPriors MaxTokensPriors { get; } = new();

    /// <summary>
    /// Whether the population priors have been refreshed from real traffic at least once (the end of the warm-up:
    /// before it, revocations on keys with little history become flags).
    /// </summary>
    public bool PopulationWarm { get; private set; }

    /// <summary>Events with a key id scored so far.</summary>
    public long ScoredEvents { get; private set; }

    /// <summary>Events without a key id (failed authentication) seen so far.</summary>
    public long UnauthenticatedEvents { get; private set; }

    /// <summary>Keys in memory.</summary>
    public int KeyCount
    {
        get
        {
            lock (_lock)
            {
                return _keys.Count;
            }
        }
    }

    /// <summary>Scores one event. Events without a <c>key_id</c> are only counted against the claimed id.</summary>
    public void Process(in ScoringEvent e)
    {
        lock (_lock)
        {
            ProcessLocked(e);
        }
    }

    /// <summary>The current view of one key, or null if unknown.</summary>
    public KeyScoreView? GetKey(string keyId)
    {
        lock (_lock)
        {
            return _keys.TryGetValue(keyId, out var k) ? View(k) : null;
        }
    }

    /// <summary>The keys with the lowest combined p-values.</summary>
    public IReadOnlyList<KeyScoreView> TopKeys(int count)
    {
        lock (_lock)
        {
            return [.. _keys.Values.OrderBy(k => k.CombinedPValue).Take(count).Select(View)];
        }
    }

    /// <summary>The most recent decisions, newest first.</summary>
    public IReadOnlyList<Decision> RecentDecisions()
    {
        lock (_lock)
        {
            return [.. _recent.Reverse()];
        }
    }

    /// <summary>Claimed key ids with the most failed authentications.</summary>
    public IReadOnlyList<ClaimedKeyReport> ClaimedKeys(int count)
    {
        lock (_lock)
        {
            return [.. _claimed.OrderByDescending(c => c.Value.Count).Take(count)
                .Select(c => new ClaimedKeyReport(c.Key, c.Value.Count, DateTimeOffset.FromUnixTimeMilliseconds(c.Value.LastMs)))];
        }
    }

    private void ProcessLocked(in ScoringEvent e)
    {
        var now = _time.GetUtcNow();
        var nowDay = now.ToUnixTimeMilliseconds() / DayMs;
        _firstEventAt ??= now;
        if (_populationDay < 0)
        {
            _populationDay = nowDay;
        }
        else if (nowDay > _populationDay)
        {
            RefreshPopulation(_populationDay, now);
            _populationDay = nowDay;
        }

        if (string.IsNullOrEmpty(e.KeyId))
        {
            // Anyone can forge a key id with a valid checksum: failed authentications are reported, never scored.
            UnauthenticatedEvents++;
            if (!string.IsNullOrEmpty(e.ClaimedKeyId))
            {
                if (_claimed.TryGetValue(e.ClaimedKeyId, out var c))
                {
                    _claimed[e.ClaimedKeyId] = (c.Count + 1, e.TimestampMs);
                }
                else if (_claimed.Count < MaxClaimedKeys)
                {
                    _claimed[e.ClaimedKeyId] = (1, e.TimestampMs);
                }
            }

            return;
        }

        if (!_keys.TryGetValue(e.KeyId, out var key))
        {
            if (_keys.Count >= _options.MaxKeys)
            {
                EvictIdle(now.ToUnixTimeMilliseconds());
                if (_keys.Count >= _options.MaxKeys)
                {
                    return;
                }
            }

            key = new KeyState(e.KeyId, e.TenantId, _options);
            _keys[e.KeyId] = key;
        }

        ScoredEvents++;
        if (!key.Dirty)
        {
            key.Dirty = true;
            _dirty.Add(key);
        }

        key.Events++;
        key.LastEventMs = e.TimestampMs;

        var atCap = IsAtCap(e);
        UpdateDayCounters(key, e, atCap);

        var volume = key.Volume.Observe(e.TimestampMs, e.TotalTokens, VolumePriors, _options);
        key.Signals[(int)DetectorFamily.Volume] = volume;
        var origin = key.Origin.Observe(e.TimestampMs, e.Country ?? "", e.Network, OriginPriors, _options, volume.PValue <= _options.VolumeAlertP);
        key.Signals[(int)DetectorFamily.Origin] = origin;
        key.Signals[(int)DetectorFamily.Network] = key.Origin.NetworkSignal;
        if (e.Served)
        {
            key.Signals[(int)DetectorFamily.MaxTokens] = key.MaxTokens.Observe(e.TimestampMs, atCap, e.FinishedByLength, MaxTokensPriors, _options);
        }

        var firedNow = false;
        firedNow |= Fire(key, DetectorFamily.Volume, _options.VolumeAlertP, now);
        firedNow |= Fire(key, DetectorFamily.Origin, _options.OriginAlertP, now);
        firedNow |= Fire(key, DetectorFamily.Network, _options.OriginAlertP, now);
        firedNow |= Fire(key, DetectorFamily.MaxTokens, _options.MaxTokensAlertP, now);

        Span<double> ps = stackalloc double[KeyState.FamilyCount];
        for (var i = 0; i < KeyState.FamilyCount; i++)
        {
            ps[i] = key.Signals[i].PValue;
        }

        key.CombinedPValue = PValues.Fisher(ps);
        if (key.RevokeDecided)
        {
            return;
        }

        // Two independent families agree when both have been at least suggestive (support) within the window and
        // the stronger evidence of the pair, combined by Fisher's method, is overwhelming.
        var window = TimeSpan.FromMinutes(_options.AgreementWindowMinutes);
        var agreeing = 0;
        var bestPair = 1.0;
        for (var f = 0; f < (int)DetectorFamily.Population; f++)
        {
            TrackWindowMin(key, f, now, window);
        }

        Span<double> pair = stackalloc double[2];
        foreach (var (f, g) in AgreeingPairs)
        {
            if (key.WindowMinP[(int)f] <= SupportFor(f) && key.WindowMinP[(int)g] <= SupportFor(g))
            {
                pair[0] = key.WindowMinP[(int)f];
                pair[1] = key.WindowMinP[(int)g];
                bestPair = Math.Min(bestPair, PValues.Fisher(pair));
            }
        }

        if (bestPair <= _options.RevokeCombinedP)
        {
            agreeing = 2;
        }

        string? hardRule = null;
        if (key.Origin.CountriesInLastHour(e.TimestampMs) >= _options.SharingCountriesPerHour
            && key.Origin.NewNetworksInLastHour(e.TimestampMs) >= _options.SharingNewNetworksPerHour)
        {
            hardRule = $"key shared across networks: {key.Origin.CountriesInLastHour(e.TimestampMs)} countries and "
                + $"{key.Origin.NewNetworksInLastHour(e.TimestampMs)} never-seen networks within an hour";
        }

        if (hardRule is null && key.Origin.ConcurrentUseFromNewCountry(e.TimestampMs, _options) is { } concurrent)
        {
            hardRule = concurrent;
        }

        if (agreeing >= 2 || hardRule is not null)
        {
            if (PopulationWarm || key.Origin.ActiveDays >= _options.WarmUpKeyDays)
            {
                key.RevokeDecided = true;
                Decide(key, DecisionAction.Revoke, now, hardRule);
                return;
            }

            // Warm-up: the priors a new key is judged against are still the built-in guesses. Flag, do not revoke.
            if (key.WarmUpFlagAt is null || now - key.WarmUpFlagAt >= TimeSpan.FromMinutes(_options.FlagCooldownMinutes))
            {
                key.WarmUpFlagAt = now;
                key.LastFlagAt = now;
                Decide(key, DecisionAction.Revoke, now, hardRule, warmUp: true);
            }

            return;
        }

        var populationFired = key.LastFired[(int)DetectorFamily.Population] is { } pa && now - pa <= TimeSpan.FromDays(1);
        if ((firedNow || populationFired || key.CombinedPValue <= _options.CombinedFlagP)
            && (key.LastFlagAt is null || now - key.LastFlagAt >= TimeSpan.FromMinutes(_options.FlagCooldownMinutes)))
        {
            key.LastFlagAt = now;
            Decide(key, DecisionAction.Flag, now, null);
        }
    }

    /// <summary>
    /// Serialises up to <paramref name="max"/> keys changed since they were last captured (and marks them clean), for
    /// the periodic snapshot. Holds the scoring lock only while it serialises this batch.
    /// </summary>
    public IReadOnlyList<KeySnapshot> CaptureChangedKeys(int max)
    {
        lock (_lock)
        {
            var n = Math.Min(max, _dirty.Count);
            var batch = new List<KeySnapshot>(n);
            var start = _dirty.Count - n;
            for (var i = start; i < _dirty.Count; i++)
            {
                var k = _dirty[i];
                k.Dirty = false;
                using var buffer = new MemoryStream(2048);
                using (var w = new BinaryWriter(buffer))
                {
                    w.Write(KeySnapshot.FormatVersion);
                    k.Save(w);
                }

                batch.Add(new KeySnapshot(k.KeyId, k.TenantId, k.LastEventMs, buffer.ToArray()));
            }

            _dirty.RemoveRange(start, n);
            return batch;
        }
    }

    /// <summary>Keys changed since they were last captured.</summary>
    public int ChangedKeys
    {
        get
        {
            lock (_lock)
            {
                return _dirty.Count;
            }
        }
    }

    /// <summary>Serialises the population state: priors, warm-up, learned tenant caps, the refresh day.</summary>
    public byte[] CapturePopulation()
    {
        lock (_lock)
        {
            using var buffer = new MemoryStream(1024);
            using (var w = new BinaryWriter(buffer))
            {
                w.Write(KeySnapshot.FormatVersion);
                foreach (var prior in (ReadOnlySpan<CountPrior>)[VolumePriors.PerMinute, VolumePriors.LogTokensPerMinute, VolumePriors.PerHour])
                {
                    w.Write(prior.Median);
                    w.Write(prior.Scale);
                }

                foreach (var v in (ReadOnlySpan<double>)[OriginPriors.NewCountryPerKeyDay, OriginPriors.ImpossibleTravelPerHour,
                    OriginPriors.NewNetworksPerHour, OriginPriors.MultiCountryHourShare, MaxTokensPriors.AtCapShare, MaxTokensPriors.LengthShare])
                {
                    w.Write(v);
                }

                w.Write(PopulationWarm);
                w.Write(_populationDay);
                w.Write(_firstEventAt is { } f ? f.ToUnixTimeMilliseconds() : long.MinValue);
                w.Write(_tenantMaxTokens.Count);
                foreach (var (tenant, cap) in _tenantMaxTokens)
                {
                    w.Write(tenant);
                    w.Write(cap);
                }
            }

            return buffer.ToArray();
        }
    }

    /// <summary>Restores the population state captured by <see cref="CapturePopulation"/>.</summary>
    /// <exception cref="InvalidDataException">The snapshot is of another format or corrupt.</exception>
    public void RestorePopulation(byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state, writable: false));
        if (r.ReadByte() != KeySnapshot.FormatVersion)
        {
            throw new InvalidDataException("The population snapshot has another format version.");
        }

        lock (_lock)
        {
            VolumePriors.PerMinute = new CountPrior(r.ReadDouble(), r.ReadDouble());
            VolumePriors.LogTokensPerMinute = new CountPrior(r.ReadDouble(), r.ReadDouble());
            VolumePriors.PerHour = new CountPrior(r.ReadDouble(), r.ReadDouble());
            OriginPriors.NewCountryPerKeyDay = r.ReadDouble();
            OriginPriors.ImpossibleTravelPerHour = r.ReadDouble();
            OriginPriors.NewNetworksPerHour = r.ReadDouble();
            OriginPriors.MultiCountryHourShare = r.ReadDouble();
            MaxTokensPriors.AtCapShare = r.ReadDouble();
            MaxTokensPriors.LengthShare = r.ReadDouble();
            PopulationWarm = r.ReadBoolean();
            _populationDay = r.ReadInt64();
            var first = r.ReadInt64();
            _firstEventAt = first == long.MinValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(first);
            for (var n = Snapshots.StateCodec.ReadCount(r); n > 0; n--)
            {
                _tenantMaxTokens[r.ReadString()] = r.ReadInt32();
            }
        }
    }

    /// <summary>Restores one key captured by <see cref="CaptureChangedKeys"/> (replacing what is in memory for it).</summary>
    /// <exception cref="InvalidDataException">The snapshot is of another format or corrupt.</exception>
    public void RestoreKey(string keyId, string tenantId, byte[] state)
    {
        using var r = new BinaryReader(new MemoryStream(state, writable: false));
        if (r.ReadByte() != KeySnapshot.FormatVersion)
        {
            throw new InvalidDataException($"The snapshot of key {keyId} has another format version.");
        }

        var key = new KeyState(keyId, tenantId, _options);
        try
        {
            key.Load(r);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"The snapshot of key {keyId} is truncated.", e);
        }

        lock (_lock)
        {
            _keys[keyId] = key;
        }
    }

    private double SupportFor(DetectorFamily family) =>
        family is DetectorFamily.Volume or DetectorFamily.MaxTokens ? _options.FrequentTestSupportP : _options.SupportP;

    private static void TrackWindowMin(KeyState key, int family, DateTimeOffset now, TimeSpan window)
    {
        var p = key.Signals[family].PValue;
        if (key.WindowMinAt[family] is not { } at || now - at > window || p <= key.WindowMinP[family])
        {
            key.WindowMinP[family] = p;
            key.WindowMinAt[family] = now;
            key.WindowMinSignals[family] = key.Signals[family];
        }
    }

    private static bool Fire(KeyState key, DetectorFamily family, double threshold, DateTimeOffset now)
    {
        var signal = key.Signals[(int)family];
        if (signal.PValue > threshold)
        {
            return false;
        }

        key.LastFired[(int)family] = now;
        key.FiredSignals[(int)family] = signal;
        return true;
    }

    private bool IsAtCap(in ScoringEvent e)
    {
        if (e.MaxTokensEffective <= 0)
        {
            return false;
        }

        if (e.MaxTokensRequested < 0)
        {
            return false; // the client did not ask: the tier default applied
        }

        if (e.MaxTokensRequested > e.MaxTokensEffective)
        {
            // the gateway clamped the request: this is the tenant's cap
            ref var learned = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_tenantMaxTokens, e.TenantId, out _);
            learned = Math.Max(learned, e.MaxTokensEffective);
            return true;
        }

        var cap = _options.MaxTokensCap ?? _tenantMaxTokens.GetValueOrDefault(e.TenantId);
        return cap > 0 && e.MaxTokensEffective >= _options.MaxTokensCapShare * cap;
    }

    private void UpdateDayCounters(KeyState key, in ScoringEvent e, bool atCap)
    {
        var day = e.TimestampMs / DayMs;
        if (day != key.Day)
        {
            key.Yesterday = key.Today;
            key.YesterdayDay = key.Day;
            key.Today = default;
            key.Day = day;
        }

        ref var t = ref key.Today;
        t.Requests++;
        t.Tokens += e.TotalTokens;
        if (atCap)
        {
            t.AtCap++;
        }

        if (e.FinishedByLength)
        {
            t.Length++;
        }

        if (e.Outcome is RequestOutcome.UpstreamError)
        {
            t.Errors++;
        }
        else if (e.Outcome is not RequestOutcome.Ok)
        {
            t.Refused++;
        }

        if (!string.IsNullOrEmpty(e.Country))
        {
            t.CountriesMask |= 1 << ((e.Country[0] * 31 + e.Country[^1]) & 31);
        }

        if (!string.IsNullOrEmpty(e.Model))
        {
            if (!_modelBits.TryGetValue(e.Model, out var bit) && _modelBits.Count < 4096)
            {
                bit = _modelBits.Count & 31;
                _modelBits[e.Model] = bit;
            }

            t.ModelsMask |= 1 << bit;
        }

        t.NewNetworks = key.Origin.NetworkCount;
    }

    private void Decide(KeyState key, DecisionAction action, DateTimeOffset now, string? hardRule, bool warmUp = false)
    {
        var policy = _options.PolicyFor(key.TenantId);
        var allowListed = _allowedKeys.Contains(key.KeyId) || _allowedTenants.Contains(key.TenantId);
        var enforced = policy != ScoringPolicy.Observe && !allowListed;
        var reasons = new List<string>();
        if (hardRule is not null)
        {
            reasons.Add(hardRule);
        }

        var signals = new List<EvidenceSignal>(KeyState.FamilyCount);
        for (var f = 0; f < KeyState.FamilyCount; f++)
        {
            var recent = key.LastFired[f] is { } at && now - at <= TimeSpan.FromMinutes(_options.AgreementWindowMinutes);
            var s = f < (int)DetectorFamily.Population && key.WindowMinSignals[f].PValue <= SupportFor((DetectorFamily)f) ? key.WindowMinSignals[f]
                : recent ? key.FiredSignals[f] : key.Signals[f];
            recent |= f < (int)DetectorFamily.Population && s.PValue <= SupportFor((DetectorFamily)f);
            signals.Add(new EvidenceSignal(((DetectorFamily)f).ToString(), s.PValue, s.Reason, key.LastFired[f]));
            if (recent && s.Reason is not null)
            {
                reasons.Add(s.Reason);
            }
        }

        var effective = action;
        var prefix = "";
        if (action == DecisionAction.Revoke && warmUp)
        {
            effective = DecisionAction.Flag;
            prefix = "would revoke (warm-up: the population priors are not learned yet and the key has little history): ";
        }
        else if (action == DecisionAction.Revoke && policy == ScoringPolicy.Flag)
        {
            effective = DecisionAction.Flag;
            prefix = "would revoke (tenant policy: flag): ";
        }
        else if (!enforced)
        {
            prefix = allowListed ? $"allow-listed, not acted on ({action}): " : $"observe only ({action}): ";
        }

        var evidence = new IncidentEvidence(
            key.CombinedPValue, signals, [.. key.Origin.Countries.Take(10)], key.Volume.MedianPerMinute,
            key.Volume.CurrentMinuteCount, hardRule);
        var decision = new Decision(
            $"{now.ToUnixTimeMilliseconds():x}-{++_decisionSeq:x}", key.KeyId, key.TenantId, effective, policy, enforced, now,
            prefix + (reasons.Count == 0 ? $"combined p={key.CombinedPValue:G2}" : string.Join("; ", reasons)), evidence);
        _recent.Enqueue(decision);
        while (_recent.Count > _options.RecentDecisions)
        {
            _recent.Dequeue();
        }

        _sink.Submit(decision);
    }

    private void EvictIdle(long nowMs)
    {
        var cutoff = nowMs - (30 * DayMs);
        foreach (var (id, k) in _keys)
        {
            if (k.LastEventMs < cutoff)
            {
                _keys.Remove(id);
            }
        }
    }

    private void RefreshPopulation(long closedDay, DateTimeOffset now)
    {
        var vectors = new List<double[]>();
        var owners = new List<KeyState>();
        var atCapShares = new List<double>();
        var lengthShares = new List<double>();
        double newCountryDays = 0, activeDays = 0, activeHours = 0, impossible = 0, newNetworks = 0, multiHours = 0;
        var minuteMedians = new List<double>();
        var hourMedians = new List<double>();
        var tokenMedians = new List<double>();
        foreach (var k in _keys.Values)
        {
            DayCounters? c = k.Day == closedDay ? k.Today : k.YesterdayDay == closedDay ? k.Yesterday : null;
            k.Signals[(int)DetectorFamily.Population] = DetectorSignal.Quiet(DetectorFamily.Population);
            if (c is { Requests: >= 5 } day)
            {
                vectors.Add(day.Features());
                owners.Add(k);
                if (day.Requests >= 20)
                {
                    atCapShares.Add(day.AtCap / (double)day.Requests);
                    lengthShares.Add(day.Length / (double)day.Requests);
                }
            }

            newCountryDays += k.Origin.NewCountryDays;
            activeDays += k.Origin.ActiveDays;
            activeHours += k.Origin.ActiveHours;
            impossible += k.Origin.ImpossibleTravelHistory;
            newNetworks += k.Origin.NewNetworkHistory;
            multiHours += k.Origin.MultiCountryHours;
            if (k.Volume.LearnedMinutes >= 16)
            {
                minuteMedians.Add(k.Volume.MedianPerMinute);
                hourMedians.Add(k.Volume.MedianPerHour);
                tokenMedians.Add(k.Volume.MedianLogTokensPerMinute);
            }
        }

        if (atCapShares.Count >= 32)
        {
            MaxTokensPriors.AtCapShare = Math.Clamp(Quantile(atCapShares, 0.95), 0.02, 0.95);
            MaxTokensPriors.LengthShare = Math.Clamp(Quantile(lengthShares, 0.95), 0.02, 0.95);
        }

        if (activeDays > 0)
        {
            OriginPriors.NewCountryPerKeyDay = Math.Max(newCountryDays / activeDays, 1e-3);
        }

        if (activeHours > 0)
        {
            OriginPriors.ImpossibleTravelPerHour = Math.Max(impossible / activeHours, 1e-3);
            OriginPriors.NewNetworksPerHour = Math.Max(newNetworks / activeHours, 1e-3);
            OriginPriors.MultiCountryHourShare = Math.Max(multiHours / activeHours, 1e-3);
        }

        if (minuteMedians.Count >= 32 && atCapShares.Count >= 32 && _firstEventAt is { } first
            && now - first >= TimeSpan.FromHours(_options.WarmUpHours))
        {
            PopulationWarm = true;
        }

        if (minuteMedians.Count >= 32)
        {
            VolumePriors.PerMinute = Prior(minuteMedians, 1);
            VolumePriors.PerHour = Prior(hourMedians, 1);
            VolumePriors.LogTokensPerMinute = Prior(tokenMedians, 0.5);
        }

        if (vectors.Count < 32)
        {
            return;
        }

        var forest = IsolationForest.Train(vectors, _options.PopulationTrees, 256, seed: (int)(closedDay % int.MaxValue));
        var scores = new double[vectors.Count];
        for (var i = 0; i < vectors.Count; i++)
        {
            scores[i] = forest.Score(vectors[i]);
        }

        var sorted = (double[])scores.Clone();
        Array.Sort(sorted);
        for (var i = 0; i < vectors.Count; i++)
        {
            // p = share of keys at least as anomalous (rank-based, so it is uniform over the population)
            var atLeast = sorted.Length - LowerBound(sorted, scores[i]);
            var p = atLeast / (double)(sorted.Length + 1);
            var reason = p <= _options.ReportP
                ? FormattableString.Invariant($"population outlier: isolation score {scores[i]:0.000}, among the top {atLeast} of {sorted.Length} keys yesterday")
                : null;
            var signal = new DetectorSignal(DetectorFamily.Population, p, reason);
            owners[i].Signals[(int)DetectorFamily.Population] = signal;
            if (p <= _options.PopulationAlertP)
            {
                owners[i].LastFired[(int)DetectorFamily.Population] = now;
                owners[i].FiredSignals[(int)DetectorFamily.Population] = signal;
            }
        }
    }

    private static double Quantile(List<double> values, double q)
    {
        values.Sort();
        return values[Math.Clamp((int)Math.Ceiling(q * values.Count) - 1, 0, values.Count - 1)];
    }

    private static CountPrior Prior(List<double> medians, double minScale)
    {
        var values = medians.Where(v => !double.IsNaN(v)).ToArray();
        if (values.Length == 0)
        {
            return new CountPrior(1, minScale);
        }

        var (median, mad) = RobustStatistics.MedianAndMadInPlace(values);
        return new CountPrior(median, Math.Max(RobustStatistics.MadToSigma * mad, minScale));
    }

    private static int LowerBound(double[] sorted, double value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static KeyScoreView View(KeyState k)
    {
        var signals = new List<EvidenceSignal>(KeyState.FamilyCount);
        for (var f = 0; f < KeyState.FamilyCount; f++)
        {
            signals.Add(new EvidenceSignal(((DetectorFamily)f).ToString(), k.Signals[f].PValue, k.Signals[f].Reason ?? k.FiredSignals[f].Reason, k.LastFired[f]));
        }

        return new KeyScoreView(k.KeyId, k.TenantId, k.Events, k.CombinedPValue, k.RevokeDecided, signals,
            [.. k.Origin.Countries.Take(10)], DateTimeOffset.FromUnixTimeMilliseconds(k.LastEventMs));
    }
}

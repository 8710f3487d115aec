using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Detection.MaxTokens;
using LlmSecOps.AnomalyScorer.Detection.Origin;
using LlmSecOps.AnomalyScorer.Detection.Volume;
using LlmSecOps.AnomalyScorer.Snapshots;

namespace LlmSecOps.AnomalyScorer.Scoring;

/// <summary>Everything the scorer remembers about one key.</summary>
public sealed class KeyState
{
    internal const int FamilyCount = 5;

    internal KeyState(string keyId, string tenantId, ScoringOptions options)
    {
        KeyId = keyId;
        TenantId = tenantId;
        Volume = new VolumeDetector(options.BurstModel);
        Origin = new OriginDetector();
        MaxTokens = new MaxTokensDetector(options.MaxTokensWindow);
    }

    /// <summary>The key's public id.</summary>
    public string KeyId { get; }

    /// <summary>Its tenant.</summary>
    public string TenantId { get; }

    /// <summary>Volume family.</summary>
    public VolumeDetector Volume { get; }

    /// <summary>Origin family.</summary>
    public OriginDetector Origin { get; }

    /// <summary>Max-tokens family.</summary>
    public MaxTokensDetector MaxTokens { get; }

    /// <summary>Events scored.</summary>
    public long Events { get; internal set; }

    /// <summary>Last event time (unix ms).</summary>
    public long LastEventMs { get; internal set; }

    /// <summary>Latest signal per family (reasons only when suspicious).</summary>
    public DetectorSignal[] Signals { get; } =
    [
        DetectorSignal.Quiet(DetectorFamily.Volume), DetectorSignal.Quiet(DetectorFamily.Origin), DetectorSignal.Quiet(DetectorFamily.Network),
        DetectorSignal.Quiet(DetectorFamily.MaxTokens), DetectorSignal.Quiet(DetectorFamily.Population),
    ];

    /// <summary>When each family last fired (clock time), or null.</summary>
    public DateTimeOffset?[] LastFired { get; } = new DateTimeOffset?[FamilyCount];

    /// <summary>The signal each family fired with last.</summary>
    public DetectorSignal[] FiredSignals { get; } =
    [
        DetectorSignal.Quiet(DetectorFamily.Volume), DetectorSignal.Quiet(DetectorFamily.Origin), DetectorSignal.Quiet(DetectorFamily.Network),
        DetectorSignal.Quiet(DetectorFamily.MaxTokens), DetectorSignal.Quiet(DetectorFamily.Population),
    ];

    /// <summary>Smallest p-value per family within the agreement window.</summary>
    public double[] WindowMinP { get; } = [1, 1, 1, 1, 1];

    /// <summary>When <see cref="WindowMinP"/> was set.</summary>
    public DateTimeOffset?[] WindowMinAt { get; } = new DateTimeOffset?[FamilyCount];

    /// <summary>The signals behind <see cref="WindowMinP"/>.</summary>
    public DetectorSignal[] WindowMinSignals { get; } =
    [
        DetectorSignal.Quiet(DetectorFamily.Volume), DetectorSignal.Quiet(DetectorFamily.Origin), DetectorSignal.Quiet(DetectorFamily.Network),
        DetectorSignal.Quiet(DetectorFamily.MaxTokens), DetectorSignal.Quiet(DetectorFamily.Population),
    ];

    /// <summary>Fisher combination of the families' latest p-values.</summary>
    public double CombinedPValue { get; internal set; } = 1;

    /// <summary>Whether the scorer revoked (or would have revoked, under observe/flag) the key.</summary>
    public bool RevokeDecided { get; internal set; }

    /// <summary>When the last flag incident was made.</summary>
    public DateTimeOffset? LastFlagAt { get; internal set; }

    /// <summary>When the last warm-up "would revoke" flag was made (its own cooldown, so an earlier ordinary flag
    /// does not hide it).</summary>
    public DateTimeOffset? WarmUpFlagAt { get; internal set; }

    /// <summary>Changed since the last snapshot.</summary>
    internal bool Dirty;

    // per-day counters for the population features
    internal long Day = -1;
    internal DayCounters Today;
    internal DayCounters Yesterday;
    internal long YesterdayDay = -1;

    internal void Save(BinaryWriter w)
    {
        w.Write(Events);
        w.Write(LastEventMs);
        w.Write(RevokeDecided);
        w.WriteNullable(LastFlagAt);
        w.WriteNullable(WarmUpFlagAt);
        w.Write(Day);
        w.Write(YesterdayDay);
        Today.Save(w);
        Yesterday.Save(w);
        Volume.Save(w);
        Origin.Save(w);
        MaxTokens.Save(w);
    }

    internal void Load(BinaryReader r)
    {
        Events = r.ReadInt64();
        LastEventMs = r.ReadInt64();
        RevokeDecided = r.ReadBoolean();
        LastFlagAt = r.ReadNullableTime();
        WarmUpFlagAt = r.ReadNullableTime();
        Day = r.ReadInt64();
        YesterdayDay = r.ReadInt64();
        Today = DayCounters.Load(r);
        Yesterday = DayCounters.Load(r);
        Volume.Load(r);
        Origin.Load(r);
        MaxTokens.Load(r);
    }
}

/// <summary>One key-day of counters, for the isolation forest's feature vector.</summary>
internal struct DayCounters
{
    public int Requests;
    public long Tokens;
    public int AtCap;
    public int Length;
    public int Refused;
    public int Errors;
    public int NewNetworks;
    public int CountriesMask;
    public int ModelsMask;

    public readonly void Save(BinaryWriter w)
    {
        w.Write(Requests);
        w.Write(Tokens);
        w.Write(AtCap);
        w.Write(Length);
        w.Write(Refused);
        w.Write(Errors);
        w.Write(NewNetworks);
        w.Write(CountriesMask);
        w.Write(ModelsMask);
    }

    public static DayCounters Load(BinaryReader r) => new()
    {
        Requests = r.ReadInt32(),
        Tokens = r.ReadInt64(),
        AtCap = r.ReadInt32(),
        Length = r.ReadInt32(),
        Refused = r.ReadInt32(),
        Errors = r.ReadInt32(),
        NewNetworks = r.ReadInt32(),
        CountriesMask = r.ReadInt32(),
        ModelsMask = r.ReadInt32(),
    };

    public readonly int Countries => System.Numerics.BitOperations.PopCount((uint)CountriesMask);

    public readonly int Models => System.Numerics.BitOperations.PopCount((uint)ModelsMask);

    /// <summary>The feature vector: rate, tokens per call, max-token share, length share, networks, countries,
    /// refusal and error rates, model mix.</summary>
    public readonly double[] Features()
    {
        var n = Math.Max(Requests, 1);
        return
        [
            Math.Log(1 + Requests), Math.Log(1 + (Tokens / (double)n)), AtCap / (double)n, Length / (double)n,
            Math.Log(1 + NewNetworks), Countries, Refused / (double)n, Errors / (double)n, Models,
        ];
    }
}

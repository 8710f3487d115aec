using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Scoring;

namespace LlmSecOps.AnomalyScorer.Tests.Scoring;

/// <summary>A scorer on a manual clock, and helpers that make a key's ordinary history.</summary>
internal sealed class ScorerTestKit
{
    public const long MinuteMs = 60_000;
    public const long HourMs = 3_600_000;
    public const long DayMs = 86_400_000;
    public static readonly long Start = new DateTimeOffset(2026, 3, 2, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    private readonly Random _random = new(42);

    public ScorerTestKit(ScoringOptions? options = null)
    {
        Clock = new ManualClock();
        Scorer = new Scorer(options ?? new ScoringOptions(), Clock, Decisions);
    }

    public ManualClock Clock { get; }

    public DecisionRecorder Decisions { get; } = new();

    public Scorer Scorer { get; }

    public static ScoringEvent Call(string keyId, long ts, string country, ulong network, int maxTokens = 512, bool length = false, string tenant = "tenant-a") => new()
    {
        TimestampMs = ts,
        KeyId = keyId,
        ClaimedKeyId = "",
        TenantId = tenant,
        Country = country,
        Network = network,
        Model = "llama3.1:8b",
        Outcome = RequestOutcome.Ok,
        PromptTokens = 300,
        CompletionTokens = Math.Min(200, maxTokens),
        MaxTokensRequested = maxTokens,
        MaxTokensEffective = Math.Min(maxTokens, 4096),
        FinishedByLength = length,
    };

    public void Send(in ScoringEvent e)
    {
        Clock.Set(e.TimestampMs);
        Scorer.Process(e);
    }

    /// <summary>Office-hours traffic from one country and network: 1-3 calls in a few hours of each day.</summary>
    public long History(string keyId, int days, string country = "DE", ulong network = 0x8000_0000_00AB_CD01, string tenant = "tenant-a")
    {
        var t = Start;
        for (var d = 0; d < days; d++)
        {
            for (var h = 8; h < 18; h++)
            {
                var calls = _random.Next(0, 4);
                for (var c = 0; c < calls; c++)
                {
                    var ts = Start + (d * DayMs) + (h * HourMs) + (_random.Next(0, 55) * MinuteMs) + (c * 5000);
                    // one max_tokens cap request in a hundred, like most keys
                    Send(Call(keyId, ts, country, network, _random.Next(100) == 0 ? 4096 : 512, tenant: tenant));
                    t = Math.Max(t, ts);
                }
            }
        }

        return Start + (days * DayMs);
    }

    public IReadOnlyList<Decision> DecisionsFor(string keyId, DecisionAction action) =>
        [.. Decisions.Decisions.Where(d => d.KeyId == keyId && d.Action == action)];
}

internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(ScorerTestKit.Start);

    public void Set(long ms) => _now = DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public override DateTimeOffset GetUtcNow() => _now;
}

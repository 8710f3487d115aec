using LlmSecOps.AnomalyScorer.Detection;
using LlmSecOps.AnomalyScorer.Scoring;
using LlmSecOps.Contracts.Events;

namespace LlmSecOps.AnomalyScorer.Tests.Scoring;

public sealed class RequestEventParserTests
{
    private static List<KeyValuePair<string, string>> Entry(params (string, string)[] fields) =>
        [.. fields.Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2))];

    [Fact]
    public void ParsesEveryFieldTheScorerUses()
    {
        var ok = RequestEventParser.TryParse(Entry(
            (RequestEvent.Fields.Ts, "1767225600000"), (RequestEvent.Fields.KeyId, "000000000001"), (RequestEvent.Fields.TenantId, "t1"),
            (RequestEvent.Fields.ClientIp, "203.0.113.9"), (RequestEvent.Fields.Country, "DE"), (RequestEvent.Fields.Outcome, "ok"),
            (RequestEvent.Fields.PromptTokens, "12"), (RequestEvent.Fields.CompletionTokens, "34"), (RequestEvent.Fields.MaxTokensRequested, ""),
            (RequestEvent.Fields.MaxTokensEffective, "1024"), (RequestEvent.Fields.FinishReason, "length"), (RequestEvent.Fields.Model, "llama3.1:8b")),
            out var e, out var error);

        Assert.True(ok, error);
        Assert.Equal(1767225600000, e.TimestampMs);
        Assert.Equal("000000000001", e.KeyId);
        Assert.Equal("DE", e.Country);
        Assert.Equal(RequestOutcome.Ok, e.Outcome);
        Assert.Equal(46, e.TotalTokens);
        Assert.Equal(-1, e.MaxTokensRequested);
        Assert.Equal(1024, e.MaxTokensEffective);
        Assert.True(e.FinishedByLength);
        Assert.NotEqual(0UL, e.Network);
    }

    [Fact]
    public void AnEntryWithoutATimestampIsRejected()
    {
        Assert.False(RequestEventParser.TryParse(Entry((RequestEvent.Fields.KeyId, "k")), out _, out var error));
        Assert.Contains("ts", error, StringComparison.Ordinal);
        Assert.False(RequestEventParser.TryParse(Entry((RequestEvent.Fields.Ts, "-5")), out _, out _));
    }

    [Fact]
    public void OversizedAndMalformedValuesAreDroppedNotTrusted()
    {
        Assert.True(RequestEventParser.TryParse(Entry(
            (RequestEvent.Fields.Ts, "1"), (RequestEvent.Fields.KeyId, new string('a', 10_000)), (RequestEvent.Fields.Country, "de"),
            (RequestEvent.Fields.PromptTokens, "lots"), (RequestEvent.Fields.ClientIp, "999.1.1.1")), out var e, out _));
        Assert.Equal("", e.KeyId);
        Assert.Equal("", e.Country);
        Assert.Equal(0, e.PromptTokens);
        Assert.Equal(0UL, e.Network);
    }

    [Fact]
    public void OptionsValidatorReportsEveryProblemAtOnce()
    {
        var result = new ScoringOptionsValidator().Validate(null, new ScoringOptions { SupportP = 2, VolumeAlertP = 0, MaxTokensWindow = 1, MaxKeys = 0 });
        Assert.True(result.Failed);
        Assert.Contains("Scoring:SupportP", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Scoring:VolumeAlertP", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Scoring:MaxTokensWindow", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Scoring:MaxKeys", result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new ScoringOptionsValidator().Validate(null, new ScoringOptions()).Succeeded);
    }
}

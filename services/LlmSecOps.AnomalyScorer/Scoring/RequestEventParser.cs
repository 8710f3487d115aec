using System.Globalization;
using LlmSecOps.AnomalyScorer.Geography;
using LlmSecOps.Contracts.Events;

namespace LlmSecOps.AnomalyScorer.Scoring;

/// <summary>
/// Turns a <c>llmsecops:events</c> stream entry (field/value pairs, ARCHITECTURE.md) into a <see cref="ScoringEvent"/>.
/// Inputs are bounded: over-long or malformed values are dropped (an entry without a valid <c>ts</c> is rejected),
/// so a corrupted or hostile entry can neither grow memory nor crash the consumer.
/// </summary>
public static class RequestEventParser
{
    private const int MaxIdLength = 64;
    private const int MaxModelLength = 256;

    /// <summary>Parses one entry; false with a reason when it is unusable.</summary>
    public static bool TryParse(IReadOnlyList<KeyValuePair<string, string>> fields, out ScoringEvent result, out string? error)
    {
        long ts = -1;
        string keyId = "", claimed = "", tenant = "", country = "", model = "";
        ulong network = 0;
        var outcome = RequestOutcome.Other;
        int prompt = 0, completion = 0, requested = -1, effective = 0;
        var length = false;
        foreach (var (name, value) in fields)
        {
            switch (name)
            {
                case RequestEvent.Fields.Ts:
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ts))
                    {
                        ts = -1;
                    }

                    break;
                case RequestEvent.Fields.KeyId:
                    keyId = Bounded(value, MaxIdLength);
                    break;
                case RequestEvent.Fields.ClaimedKeyId:
                    claimed = Bounded(value, MaxIdLength);
                    break;
                case RequestEvent.Fields.TenantId:
                    tenant = Bounded(value, MaxIdLength);
                    break;
                case RequestEvent.Fields.Country:
                    country = value.Length == 2 && char.IsAsciiLetterUpper(value[0]) && char.IsAsciiLetterUpper(value[1])
                        ? string.Intern(value) : "";
                    break;
                case RequestEvent.Fields.ClientIp:
                    network = value.Length <= 64 ? NetworkPrefix.FromAddress(value) : 0;
                    break;
                case RequestEvent.Fields.Model:
                    model = Bounded(value, MaxModelLength);
                    break;
                case RequestEvent.Fields.Outcome:
                    outcome = ParseOutcome(value);
                    break;
                case RequestEvent.Fields.PromptTokens:
                    prompt = Count(value);
                    break;
                case RequestEvent.Fields.CompletionTokens:
                    completion = Count(value);
                    break;
                case RequestEvent.Fields.MaxTokensRequested:
                    requested = value.Length == 0 ? -1 : Count(value);
                    break;
                case RequestEvent.Fields.MaxTokensEffective:
                    effective = Count(value);
                    break;
                case RequestEvent.Fields.FinishReason:
                    length = value == "length";
                    break;
                default:
                    break;
            }
        }

        if (ts <= 0)
        {
            result = default;
            error = "missing or malformed ts";
            return false;
        }

        result = new ScoringEvent
        {
            TimestampMs = ts,
            KeyId = keyId,
            ClaimedKeyId = claimed,
            TenantId = tenant,
            Country = country,
            Network = network,
            Model = model,
            Outcome = outcome,
            PromptTokens = prompt,
            CompletionTokens = completion,
            MaxTokensRequested = requested,
            MaxTokensEffective = effective,
            FinishedByLength = length,
        };
        error = null;
        return true;
    }

    /// <summary>Maps the <c>outcome</c> field.</summary>
    public static RequestOutcome ParseOutcome(string value) => value switch
    {
        RequestEvent.Outcomes.Ok => RequestOutcome.Ok,
        RequestEvent.Outcomes.Unauthenticated => RequestOutcome.Unauthenticated,
        RequestEvent.Outcomes.Forbidden => RequestOutcome.Forbidden,
        RequestEvent.Outcomes.RateLimited => RequestOutcome.RateLimited,
        RequestEvent.Outcomes.ConcurrencyLimited => RequestOutcome.ConcurrencyLimited,
        RequestEvent.Outcomes.BudgetExhausted => RequestOutcome.BudgetExhausted,
        RequestEvent.Outcomes.BadRequest => RequestOutcome.BadRequest,
        RequestEvent.Outcomes.TooLarge => RequestOutcome.TooLarge,
        RequestEvent.Outcomes.GuardBlocked => RequestOutcome.GuardBlocked,
        RequestEvent.Outcomes.ModelNotApproved => RequestOutcome.ModelNotApproved,
        RequestEvent.Outcomes.UpstreamError => RequestOutcome.UpstreamError,
        _ => RequestOutcome.Other,
    };

    private static string Bounded(string value, int max) => value.Length <= max ? value : "";

    private static int Count(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;
}

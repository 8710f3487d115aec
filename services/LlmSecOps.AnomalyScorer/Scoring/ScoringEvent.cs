namespace LlmSecOps.AnomalyScorer.Scoring;

/// <summary>The outcome of a data-plane request (ARCHITECTURE.md <c>outcome</c>).</summary>
public enum RequestOutcome : byte
{
    Ok,
    Unauthenticated,
    Forbidden,
    RateLimited,
    ConcurrencyLimited,
    BudgetExhausted,
    BadRequest,
    TooLarge,
    GuardBlocked,
    ModelNotApproved,
    UpstreamError,
    Other,
}

/// <summary>
/// One request event as the scorer needs it: parsed once from the stream entry (see <see cref="RequestEventParser"/>)
/// or made directly by the benchmark's generator. No prompt or completion text exists here, by contract.
/// </summary>
public readonly record struct ScoringEvent
{
    /// <summary>Unix ms when the request arrived.</summary>
    public required long TimestampMs { get; init; }

    /// <summary>The authenticated key's public id; empty when authentication failed.</summary>
    public required string KeyId { get; init; }

    /// <summary>The id part of a presented key that failed to authenticate (reported, never acted on).</summary>
    public string ClaimedKeyId { get; init; }

    /// <summary>The owning tenant.</summary>
    public required string TenantId { get; init; }

    /// <summary>ISO 3166-1 alpha-2 country of the client, empty if unknown.</summary>
    public string Country { get; init; }

    /// <summary>The client's /24 (IPv4) or /48 (IPv6) network, 0 if unknown (see <see cref="Geography.NetworkPrefix"/>).</summary>
    public ulong Network { get; init; }

    /// <summary>Canonical model name (<c>name:tag</c>).</summary>
    public string Model { get; init; }

    /// <summary>The outcome.</summary>
    public RequestOutcome Outcome { get; init; }

    /// <summary>Prompt tokens.</summary>
    public int PromptTokens { get; init; }

    /// <summary>Completion tokens.</summary>
    public int CompletionTokens { get; init; }

    /// <summary>max_tokens the client asked for; -1 when absent.</summary>
    public int MaxTokensRequested { get; init; }

    /// <summary>max_tokens the gateway applied (the tier cap clamps it).</summary>
    public int MaxTokensEffective { get; init; }

    /// <summary>Whether the completion stopped because it hit max_tokens (<c>finish_reason = length</c>).</summary>
    public bool FinishedByLength { get; init; }

    /// <summary>Total tokens of the request.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>Whether the request reached the model (refusals are counted separately).</summary>
    public bool Served => Outcome is RequestOutcome.Ok or RequestOutcome.UpstreamError;
}

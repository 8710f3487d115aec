namespace LlmSecOps.Contracts.Events;

/// <summary>
/// The request event contract of ARCHITECTURE.md: one entry per data-plane request on Redis Stream
/// <see cref="StreamName"/>, fields as snake_case strings. No prompt or completion text, ever.
/// </summary>
public static class RequestEvent
{
    /// <summary>The stream.</summary>
    public const string StreamName = "llmsecops:events";

    /// <summary>Approximate stream cap (XADD MAXLEN ~).</summary>
    public const long MaxLength = 1_000_000;

    /// <summary>Channel on which key revocations are published.</summary>
    public const string RevocationChannel = "llmsecops:revocations";

    /// <summary>Field names, in the documented order.</summary>
    public static class Fields
    {
        public const string Ts = "ts";
        public const string RequestId = "request_id";
        public const string KeyId = "key_id";
        public const string ClaimedKeyId = "claimed_key_id";
        public const string TenantId = "tenant_id";
        public const string Env = "env";
        public const string ClientIp = "client_ip";
        public const string Country = "country";
        public const string UserAgentHash = "user_agent_hash";
        public const string Endpoint = "endpoint";
        public const string Model = "model";
        public const string Status = "status";
        public const string Outcome = "outcome";
        public const string PromptTokens = "prompt_tokens";
        public const string CompletionTokens = "completion_tokens";
        public const string MaxTokensRequested = "max_tokens_requested";
        public const string MaxTokensEffective = "max_tokens_effective";
        public const string FinishReason = "finish_reason";
        public const string Stream = "stream";
        public const string LatencyMs = "latency_ms";
        public const string TtftMs = "ttft_ms";

        /// <summary>Every field, in order.</summary>
        public static readonly string[] All =
        [
            Ts, RequestId, KeyId, ClaimedKeyId, TenantId, Env, ClientIp, Country, UserAgentHash, Endpoint, Model,
            Status, Outcome, PromptTokens, CompletionTokens, MaxTokensRequested, MaxTokensEffective, FinishReason,
            Stream, LatencyMs, TtftMs,
        ];
    }

    /// <summary>Values of the <c>outcome</c> field.</summary>
    public static class Outcomes
    {
        public const string Ok = "ok";
        public const string Unauthenticated = "unauthenticated";
        public const string Forbidden = "forbidden";
        public const string RateLimited = "rate_limited";
        public const string ConcurrencyLimited = "concurrency_limited";
        public const string BudgetExhausted = "budget_exhausted";
        public const string BadRequest = "bad_request";
        public const string TooLarge = "too_large";
        public const string GuardBlocked = "guard_blocked";
        public const string ModelNotApproved = "model_not_approved";
        public const string UpstreamError = "upstream_error";
    }
}

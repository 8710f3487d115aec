namespace LlmSecOps.Gateway.Events;

/// <summary>What the data plane learns about one request while serving it; becomes its event and its record.</summary>
internal sealed class RequestOutcome
{
    public DateTimeOffset Ts { get; init; }

    public required string RequestId { get; init; }

    public string? KeyId { get; set; }

    public string ClaimedKeyId { get; set; } = "";

    public string? TenantId { get; set; }

    public string Env { get; set; } = "";

    public string ClientIp { get; set; } = "";

    public string Country { get; set; } = "";

    /// <summary>Raw user agent; only its keyed hash leaves the process.</summary>
    public string UserAgent { get; init; } = "";

    public string Endpoint { get; set; } = "";

    public string? Model { get; set; }

    public int Status { get; set; }

    public string? Outcome { get; set; }

    public long PromptTokens { get; set; }

    public long CompletionTokens { get; set; }

    public long? MaxTokensRequested { get; set; }

    public long? MaxTokensEffective { get; set; }

    public string? FinishReason { get; set; }

    public bool Stream { get; set; }

    public long LatencyMs { get; set; }

    public long TtftMs { get; set; }

    public long FirstByteTicks { get; set; }

    /// <summary>The tenant's logging policy (<c>none</c> | <c>metadata</c> | <c>redacted</c>); null before authentication.</summary>
    public string? LoggingPolicy { get; set; }

    /// <summary>The prompt after redaction; kept only under the tenant policy <c>redacted</c>.</summary>
    public string? RedactedPrompt { get; set; }

    /// <summary>Input-guard reasons, comma-separated (e.g. <c>prompt_injection:override_instructions,pii:email</c>); null when nothing fired. Never text.</summary>
    public string? GuardFlags { get; set; }
}

namespace LlmSecOps.Simulator.State;

/// <summary>How a simulated mid-stream failure looks on the wire.</summary>
public enum FailureMode
{
    /// <summary>The connection is aborted (TCP reset) without a final frame.</summary>
    Abort,

    /// <summary>A final error frame in the API's format (<c>{"error":"..."}</c> NDJSON line, or an SSE
    /// <c>data: {"error":{...}}</c> event) and then the response ends without <c>done</c>/<c>[DONE]</c>.</summary>
    ErrorFrame,
}

/// <summary>
/// Behaviour switches tests flip at run time. Immutable: change them with
/// <see cref="SimulatorState.UpdateSwitches"/> (or <c>PUT /_sim/switches</c>); <see cref="SimulatorState.Reset"/>
/// restores the configured values.
/// </summary>
public sealed record SimulatorSwitches
{
    /// <summary>Generate the natural length whatever <c>max_tokens</c>/<c>max_completion_tokens</c>/<c>num_predict</c> say
    /// (an upstream that does not honour the limit).</summary>
    public bool IgnoreMaxTokens { get; init; }

    /// <summary>Natural completion length in tokens when nothing limits it.</summary>
    public int CompletionTokens { get; init; } = 24;

    /// <summary>
    /// When set, every completion (each choice) is exactly these tokens, one streamed chunk per entry, instead of the
    /// generated words; the natural length is then their count (limits still cut it). Lets tests script what the
    /// "model" answers, e.g. a secret split across chunks to test output redaction. Null = generated text.
    /// </summary>
    public IReadOnlyList<string>? ScriptedTokens { get; init; }

    /// <summary>Tokens per second; 0 = as fast as possible.</summary>
    public double TokensPerSecond { get; init; }

    /// <summary>Delay before the first token, in milliseconds.</summary>
    public int FirstTokenDelayMs { get; init; }

    /// <summary>After this many tokens of a generation, fail (see <see cref="FailureMode"/>); null = never.
    /// A non-streaming request that would generate more tokens fails the same way before answering.</summary>
    public int? FailMidStreamAfterTokens { get; init; }

    /// <summary>How <see cref="FailMidStreamAfterTokens"/> fails.</summary>
    public FailureMode FailureMode { get; init; } = FailureMode.Abort;

    /// <summary>After this many tokens, stop sending but keep the connection open until the client goes away
    /// (or the simulator stops); null = never.</summary>
    public int? StallMidStreamAfterTokens { get; init; }

    /// <summary>When set, every API request (not the control API) is answered with this status and an error body
    /// in the API's format.</summary>
    public int? FailStatusCode { get; init; }

    /// <summary>With <see cref="FailStatusCode"/>: how many requests still fail before the simulator recovers;
    /// null = all of them. Counted down by the simulator.</summary>
    public int? FailStatusCount { get; init; }
}

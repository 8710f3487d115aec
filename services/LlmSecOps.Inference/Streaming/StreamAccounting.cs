using System.Text;

namespace LlmSecOps.Inference.Streaming;

/// <summary>
/// Counts a response stream's output as it flows: reported usage when the upstream gives it, else an estimate.
/// Feed it every parsed chunk (with the JSON it came from).
/// <para>
/// Estimate when no usage is reported (a stream cut short, or an upstream that never reports): at least one token
/// per content-bearing chunk (OpenAI-compatible servers and Ollama send one or more tokens per chunk) and at least
/// one token per 4 UTF-8 bytes (the usual English ratio), never more than the UTF-8 byte count (the BPE upper bound
/// argued in <see cref="Parameters.ParameterPolicyEnforcer"/>). Callers cap it at the reservation they made.
/// </para>
/// </summary>
public sealed class StreamAccounting
{
    /// <summary>UTF-8 bytes of generated output seen (text, tool-call arguments, reasoning).</summary>
    public long OutputBytes { get; private set; }

    /// <summary>Chunks that carried generated output.</summary>
    public long OutputChunks { get; private set; }

    /// <summary>Prompt tokens the upstream reported, if it did.</summary>
    public long? ReportedPromptTokens { get; private set; }

    /// <summary>Completion tokens the upstream reported, if it did.</summary>
    public long? ReportedCompletionTokens { get; private set; }

    /// <summary>The finish reason (OpenAI finish_reason, Ollama done_reason mapped onto it).</summary>
    public string? FinishReason { get; private set; }

    /// <summary>True once the stream ended properly (SSE [DONE] or Ollama done: true).</summary>
    public bool Completed { get; private set; }

    /// <summary>The upstream's in-stream error, if any.</summary>
    public string? UpstreamError { get; private set; }

    /// <summary>Estimated completion tokens from what was seen (see the class remarks).</summary>
    public long EstimatedCompletionTokens
    {
        get
        {
            var estimate = Math.Max(OutputChunks, (OutputBytes + 3) / 4);
            return Math.Min(estimate, OutputBytes);
        }
    }

    /// <summary>
    /// A lower bound of the completion tokens seen: one per content-bearing chunk (servers send one or more tokens
    /// per chunk, never a chunk of output without a token). Unlike <see cref="EstimatedCompletionTokens"/> it never
    /// exceeds the real count, so a limit check on it cannot cut a stream that stays within its max_tokens.
    /// </summary>
    public long MinimumCompletionTokens => OutputChunks;

    /// <summary>Completion tokens to settle: reported when given, else the estimate.</summary>
    public long CompletionTokens => ReportedCompletionTokens ?? EstimatedCompletionTokens;

    /// <summary>Records one parsed chunk.</summary>
    public void Observe(StreamChunk chunk, ReadOnlySpan<byte> json)
    {
        long bytes = chunk.OtherOutputBytes;
        foreach (var piece in chunk.Content)
        {
            bytes += Encoding.UTF8.GetByteCount(piece.GetText(json));
        }

        if (bytes > 0)
        {
            OutputBytes += bytes;
            OutputChunks++;
        }

        if (chunk.PromptTokens is { } prompt)
        {
            ReportedPromptTokens = prompt;
        }

        if (chunk.CompletionTokens is { } completion)
        {
            ReportedCompletionTokens = completion;
        }

        if (chunk.FinishReason is { } reason)
        {
            FinishReason = reason;
        }

        if (chunk.Error is { } error)
        {
            UpstreamError = error;
            FinishReason = "error";
        }

        if (chunk.IsDoneMarker || chunk.Done)
        {
            Completed = true;
        }
    }
}

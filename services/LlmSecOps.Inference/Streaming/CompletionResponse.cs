using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Streaming;

/// <summary>A non-streamed completion after the output guards.</summary>
/// <param name="Body">The body to send (the original bytes when nothing was redacted).</param>
/// <param name="PromptTokens">Reported prompt tokens, if any.</param>
/// <param name="CompletionTokens">Reported completion tokens, else the estimate from the text.</param>
/// <param name="FinishReason">finish_reason / done_reason.</param>
/// <param name="Redactions">Findings redacted.</param>
public sealed record CompletedResponse(ReadOnlyMemory<byte> Body, long? PromptTokens, long CompletionTokens, string? FinishReason, int Redactions);

/// <summary>
/// Output guards and accounting for a NON-streamed response: OpenAI <c>choices[].message.content</c> /
/// <c>choices[].text</c> + <c>usage</c>, Ollama <c>message.content</c> / <c>response</c> + <c>prompt_eval_count</c> /
/// <c>eval_count</c>. The text is redacted in place; the rest of the body is copied byte for byte.
/// </summary>
public static class CompletionResponse
{
    /// <summary>Redacts with <paramref name="detectors"/> (null: none) and reads the usage.</summary>
    public static CompletedResponse Process(InferenceRoute route, ReadOnlyMemory<byte> body, IReadOnlyList<Detector>? detectors)
    {
        var chunk = route.Family == ApiFamily.OpenAi ? new OpenAiChunkParser().Parse(body.Span) : new OllamaChunkParser().Parse(body.Span);
        var accounting = new StreamAccounting();
        accounting.Observe(chunk, body.Span);

        var redactions = 0;
        var output = body;
        if (detectors is not null && chunk.Content.Count > 0)
        {
            var texts = chunk.Content.Select(p => p.GetText(body.Span)).ToArray();
            var findings = texts.Select(t => Detectors.FindAll(t, detectors)).ToArray();
            redactions = findings.Sum(f => f.Count);
            if (redactions > 0)
            {
                var index = 0;
                output = chunk.ReplaceContent(body.Span, _ =>
                {
                    var i = index++;
                    return Redaction.Apply(texts[i], findings[i]);
                });
            }
        }

        return new CompletedResponse(output, accounting.ReportedPromptTokens, accounting.CompletionTokens, accounting.FinishReason, redactions);
    }
}

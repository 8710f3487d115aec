using System.Text.Json;

namespace LlmSecOps.Simulator.Http;

/// <summary>
/// Request JSON. Parsed with <see cref="JsonDocument"/>: when a key is repeated, the LAST occurrence wins, as in
/// Go's encoding/json (Ollama) and Python's json (OpenAI-compatible servers), so a gateway test sees what the
/// real upstream would act on.
/// </summary>
internal static class JsonInput
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>Parses the buffered body; on failure returns null and a message.</summary>
    public static JsonDocument? Parse(HttpContext context, out string? error)
    {
        var body = context.Features.Get<BufferedBody>() ?? BufferedBody.Empty;
        if (body.Length == 0)
        {
            error = "missing request body";
            return null;
        }

        try
        {
            var document = JsonDocument.Parse(body.Memory, Options);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                error = "request body must be a JSON object";
                return null;
            }

            error = null;
            return document;
        }
        catch (JsonException ex)
        {
            error = "invalid JSON: " + ex.Message;
            return null;
        }
    }

    public static string? GetString(this JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>True/false when the property is a boolean, <paramref name="fallback"/> when absent or null.</summary>
    public static bool? GetBool(this JsonElement obj, string name, bool fallback) =>
        !obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? fallback
        : value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        };

    /// <summary>A JSON number as a whole number; false for strings, fractions and numbers out of range.</summary>
    public static bool TryGetWholeNumber(JsonElement value, out long number)
    {
        number = 0;
        if (value.ValueKind != JsonValueKind.Number)
        {
            return false;
        }

        if (value.TryGetInt64(out number))
        {
            return true;
        }

        if (value.TryGetDouble(out var d) && Math.Floor(d) == d && d is >= long.MinValue and <= long.MaxValue)
        {
            number = (long)d;
            return true;
        }

        return false;
    }
}

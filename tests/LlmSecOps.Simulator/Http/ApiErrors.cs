using System.Text.Json;

namespace LlmSecOps.Simulator.Http;

/// <summary>Error bodies in each API's own format.</summary>
internal static class ApiErrors
{
    /// <summary>Ollama: <c>{"error":"..."}</c>.</summary>
    public static Task OllamaAsync(HttpContext context, int status, string message) =>
        JsonOutput.WriteAsync(context, status, message, static (w, m) =>
        {
            w.WriteStartObject();
            w.WriteString("error"u8, m);
            w.WriteEndObject();
        });

    /// <summary>OpenAI: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public static Task OpenAIAsync(HttpContext context, int status, string message, string type = "invalid_request_error",
        string? param = null, string? code = null) =>
        JsonOutput.WriteAsync(context, status, (message, type, param, code), static (w, e) => WriteOpenAIError(w, e.message, e.type, e.param, e.code));

    public static void WriteOpenAIError(Utf8JsonWriter w, string message, string type, string? param, string? code)
    {
        w.WriteStartObject();
        w.WriteStartObject("error"u8);
        w.WriteString("message"u8, message);
        w.WriteString("type"u8, type);
        WriteNullableString(w, "param"u8, param);
        WriteNullableString(w, "code"u8, code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Chooses the format from the path: <c>/v1/...</c> is OpenAI, everything else Ollama.</summary>
    public static Task WriteAsync(HttpContext context, int status, string message, string openAIType, string? openAICode) =>
        context.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)
            ? OpenAIAsync(context, status, message, openAIType, null, openAICode)
            : OllamaAsync(context, status, message);

    private static void WriteNullableString(Utf8JsonWriter w, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }
}

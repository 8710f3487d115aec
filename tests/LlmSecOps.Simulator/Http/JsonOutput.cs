using System.Text.Encodings.Web;
using System.Text.Json;

namespace LlmSecOps.Simulator.Http;

/// <summary>Writes JSON straight to the response pipe with <see cref="Utf8JsonWriter"/> (no reflection, no intermediate strings).</summary>
internal static class JsonOutput
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        SkipValidation = true,
        // Ollama (Go) and OpenAI write quotes, backticks and non-ASCII as they are; the default encoder's HTML-safe
        // escaping (\u0022, \u0060) would make the simulator's bytes differ from theirs. Nothing here is HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public const string JsonContentType = "application/json; charset=utf-8";

    public static async Task WriteAsync<TState>(HttpContext context, int status, TState state, Action<Utf8JsonWriter, TState> write)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = JsonContentType;
        await using (var writer = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            write(writer, state);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>A writer for many frames of one streamed response; call <see cref="Utf8JsonWriter.Reset()"/> before each frame.</summary>
    public static Utf8JsonWriter CreateStreamWriter(HttpContext context) => new(context.Response.BodyWriter, WriterOptions);
}

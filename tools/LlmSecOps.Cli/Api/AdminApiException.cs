using System.Net;
using System.Text.Json;

namespace LlmSecOps.Cli.Api;

/// <summary>
/// A non-success answer from the admin API, with its RFC 9457 (formerly RFC 7807) problem details when the body
/// carried them.
/// </summary>
public sealed class AdminApiException(HttpStatusCode status, string title, string? detail, IReadOnlyList<KeyValuePair<string, string[]>> errors,
    JsonElement? body) : Exception($"{(int)status} {title}")
{
    /// <summary>The HTTP status.</summary>
    public HttpStatusCode Status { get; } = status;

    /// <summary>The problem's title (or the reason phrase when the body had none).</summary>
    public string Title { get; } = title;

    /// <summary>The problem's detail, if any.</summary>
    public string? Detail { get; } = detail;

    /// <summary>Validation problems: field -> messages, in the order the API sent them.</summary>
    public IReadOnlyList<KeyValuePair<string, string[]>> Errors { get; } = errors;

    /// <summary>The body as JSON, when it was JSON (printed as-is with <c>--json</c>).</summary>
    public JsonElement? Body { get; } = body;

    /// <summary>401 and 403 are authentication/authorisation failures; everything else is an API error.</summary>
    public int ExitCode => Status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? ExitCodes.AuthFailure : ExitCodes.ApiError;

    /// <summary>Builds the exception from a response body (problem+json, other JSON, or text).</summary>
    public static AdminApiException FromResponse(HttpStatusCode status, string? reasonPhrase, string bodyText)
    {
        var fallbackTitle = string.IsNullOrWhiteSpace(reasonPhrase) ? status.ToString() : reasonPhrase;
        JsonElement? body = null;
        try
        {
            if (!string.IsNullOrWhiteSpace(bodyText))
            {
                using var document = JsonDocument.Parse(bodyText);
                body = document.RootElement.Clone();
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page, plain text): keep a bounded excerpt as the detail.
            var excerpt = bodyText.Length > 300 ? bodyText[..300] + "…" : bodyText;
            return new AdminApiException(status, fallbackTitle, excerpt.Trim(), [], null);
        }

        if (body is not { ValueKind: JsonValueKind.Object } problem)
        {
            return new AdminApiException(status, fallbackTitle, null, [], body);
        }

        var title = Text(problem, "title") ?? fallbackTitle;
        var detail = Text(problem, "detail");
        var errors = new List<KeyValuePair<string, string[]>>();
        if (problem.TryGetProperty("errors", out var map) && map.ValueKind == JsonValueKind.Object)
        {
            foreach (var field in map.EnumerateObject())
            {
                var messages = field.Value.ValueKind switch
                {
                    JsonValueKind.Array => field.Value.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m.GetRawText()).ToArray(),
                    JsonValueKind.String => [field.Value.GetString()!],
                    _ => [field.Value.GetRawText()],
                };
                errors.Add(new(field.Name, messages));
            }
        }

        return new AdminApiException(status, title, detail, errors, body);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

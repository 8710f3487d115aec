using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmSecOps.Gateway.Validation;

/// <summary>
/// Collects every validation problem of a request so the caller gets them all at once as RFC 9457 ProblemDetails
/// (<c>errors</c>: field -> messages), instead of fixing one error per round trip.
/// </summary>
public sealed class Problems
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    /// <summary>True when nothing was reported.</summary>
    public bool IsEmpty => _errors.Count == 0;

    /// <summary>Adds a problem for <paramref name="field"/>.</summary>
    public Problems Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
        return this;
    }

    /// <summary>Adds a problem unless <paramref name="ok"/>.</summary>
    public Problems Check(bool ok, string field, string message) => ok ? this : Add(field, message);

    /// <summary>400 ValidationProblem with every problem.</summary>
    public IResult ToResult() => Results.ValidationProblem(
        _errors.ToDictionary(e => e.Key, e => e.Value.ToArray()),
        title: "The request is invalid.",
        detail: $"{_errors.Sum(e => e.Value.Count)} problem(s); nothing was changed.");
}

/// <summary>Reads admin request bodies strictly: bounded size, JSON errors reported as validation problems.</summary>
public static class AdminJson
{
    /// <summary>Web defaults (camelCase), strict about unknown members so typos are reported, not ignored.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Deserialises the body; on failure <c>Error</c> is the 400/413 to return.</summary>
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, int maxBytes, bool allowEmpty = false)
        where T : class
    {
        if (request.ContentLength > maxBytes)
        {
            return (null, Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large.",
                detail: $"Admin request bodies are limited to {maxBytes} bytes."));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return (null, Results.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large.",
                    detail: $"Admin request bodies are limited to {maxBytes} bytes."));
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0)
        {
            if (allowEmpty)
            {
                return (null, null);
            }

            return (null, new Problems().Add("$", "A JSON body is required.").ToResult());
        }

        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options);
            if (value is null)
            {
                return (null, new Problems().Add("$", "The body must be a JSON object, not null.").ToResult());
            }

            return (value, null);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) ? "$" : ex.Path;
            var message = ex.Message.Split(" Path:", 2)[0];
            return (null, new Problems().Add(field, message).ToResult());
        }
    }
}

/// <summary>Common admin API results.</summary>
public static class AdminResults
{
    /// <summary>404 ProblemDetails naming what was not found.</summary>
    public static IResult NotFound(string what, string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: $"{what} not found.", detail: $"No {what.ToLowerInvariant()} has id '{id}'.");

    /// <summary>409 ProblemDetails.</summary>
    public static IResult Conflict(string title, string detail) =>
        Results.Problem(statusCode: StatusCodes.Status409Conflict, title: title, detail: detail);
}

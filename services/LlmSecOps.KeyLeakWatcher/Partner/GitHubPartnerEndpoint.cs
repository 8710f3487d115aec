using System.Text.Json;
using System.Text.Json.Serialization;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.KeyLeakWatcher.Actions;
using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Partner;

/// <summary>
/// GitHub's secret-scanning partner protocol: GitHub POSTs a JSON array of <c>{token, type, url, source}</c> signed
/// with ECDSA P-256/SHA-256 (<c>Github-Public-Key-Identifier</c>, <c>Github-Public-Key-Signature</c>); each token is a
/// finding acted on at once (look-up, revoke), and the answer labels each one <c>true_positive</c> (one of our keys,
/// active or not) or <c>false_positive</c>.
/// </summary>
public static partial class GitHubPartnerEndpoint
{
    /// <summary>The route GitHub is registered to call.</summary>
    public const string Route = "/github/secret-scanning";

    /// <summary>Maps the endpoint on <paramref name="listener"/>.</summary>
    public static IEndpointRouteBuilder MapGitHubPartner(this IEndpointRouteBuilder app, string listener)
    {
        app.MapPost(Route, HandleAsync).RequireListener(listener);
        return app;
    }

    private static async Task<IResult> HandleAsync(HttpContext context, GitHubPublicKeys keys, LeakResponder responder, IOptions<GitHubPartnerOptions> options, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(GitHubPartnerEndpoint).FullName!);
        var settings = options.Value;
        var cancellationToken = context.RequestAborted;
        var identifier = context.Request.Headers["Github-Public-Key-Identifier"].ToString();
        var signature = context.Request.Headers["Github-Public-Key-Signature"].ToString();
        if (identifier.Length is 0 or > 256 || signature.Length is 0 or > 1024)
        {
            return Problem(StatusCodes.Status401Unauthorized, "Missing or malformed Github-Public-Key-Identifier / Github-Public-Key-Signature headers.");
        }

        var body = await ReadBodyAsync(context.Request, settings.MaxBodyBytes, cancellationToken);
        if (body is null)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, $"Body larger than {settings.MaxBodyBytes} bytes.");
        }

        // Verify before parsing: nothing unsigned is ever interpreted.
        if (!await keys.VerifyAsync(identifier, signature, body, cancellationToken))
        {
            LogBadSignature(logger, identifier);
            return Problem(StatusCodes.Status401Unauthorized, "Signature does not verify with the named GitHub public key.");
        }

        List<Alert>? alerts;
        try
        {
            alerts = JsonSerializer.Deserialize<List<Alert>>(body);
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, $"Body is not a JSON array of {{token, type, url, source}}: {ex.Message}");
        }

        var problems = Validate(alerts, settings.MaxTokens);
        if (problems.Count > 0)
        {
            return Results.ValidationProblem(problems);
        }

        var answers = new List<Label>(alerts!.Count);
        foreach (var alert in alerts)
        {
            var token = alert.Token!;
            var type = alert.Type ?? string.Empty;
            if (!ApiKey.IsValid(token))
            {
                answers.Add(new Label(HashOf(token), type, "false_positive"));
                continue;
            }

            var place = $"github {alert.Source ?? "unknown"} {alert.Url ?? "(no url)"}";
            var result = await responder.HandleAsync(new Finding(token, "github", place), cancellationToken);
            var label = result.Outcome is FindingOutcome.Revoked or FindingOutcome.AlreadyRevoked ? "true_positive" : "false_positive";
            if (result.Outcome is FindingOutcome.Error or FindingOutcome.Pending or FindingOutcome.Recorded)
            {
                // Could not ask the control plane: a valid checksum is the best evidence available.
                label = "true_positive";
            }

            answers.Add(new Label(result.Finding.TokenHash, type, label));
        }

        return Results.Json(answers);
    }

    private static Dictionary<string, string[]> Validate(List<Alert>? alerts, int maxTokens)
    {
        var problems = new Dictionary<string, string[]>();
        if (alerts is null)
        {
            problems["$"] = ["The body must be a JSON array."];
            return problems;
        }

        if (alerts.Count > maxTokens)
        {
            problems["$"] = [$"At most {maxTokens} tokens per request."];
        }

        for (var i = 0; i < alerts.Count; i++)
        {
            if (alerts[i] is null || string.IsNullOrEmpty(alerts[i].Token))
            {
                problems[$"[{i}].token"] = ["Each alert needs a token."];
            }
            else if (alerts[i].Token!.Length > 4096)
            {
                problems[$"[{i}].token"] = ["Token longer than 4096 characters."];
            }
        }

        return problems;
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static string HashOf(string token) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));

    private static IResult Problem(int status, string detail) => Results.Problem(detail: detail, statusCode: status);

    [LoggerMessage(EventId = 6110, Level = LogLevel.Warning, Message = "Rejected a GitHub secret-scanning POST whose signature does not verify (key identifier {Identifier})")]
    private static partial void LogBadSignature(ILogger logger, string identifier);

    private sealed class Alert
    {
        [JsonPropertyName("token")]
        public string? Token { get; set; }

        [JsonPropertyName("type")]
        public string? Type { get; set; }

        [JsonPropertyName("url")]
        public string? Url { get; set; }

        [JsonPropertyName("source")]
        public string? Source { get; set; }
    }

    private sealed record Label(
        [property: JsonPropertyName("token_hash")] string TokenHash,
        [property: JsonPropertyName("token_type")] string TokenType,
        [property: JsonPropertyName("label")] string LabelValue);
}

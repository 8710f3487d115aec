using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace LlmSecOps.Cli.Commands;

/// <summary>Argument and option builders shared by the commands, and value parsing with usage errors.</summary>
public static class CommandArgs
{
    /// <summary>A required positional id argument.</summary>
    public static Argument<string> Id(string name, string description) => new(name) { Description = description };

    /// <summary>A <c>--daily</c>/<c>--monthly</c> token budget option (non-negative; <c>none</c> clears it).</summary>
    public static Option<string?> Budget(string name, string period) => new(name)
    {
        Description = $"{period} token budget (a whole number of tokens, or 'none' to remove the limit)",
    };

    /// <summary>Adds a budget value to a body: a number, or JSON null for <c>none</c>.</summary>
    public static void AddBudget(JsonObject body, string field, string? value, string optionName)
    {
        if (value is null)
        {
            return;
        }

        if (string.Equals(value, "none", StringComparison.OrdinalIgnoreCase))
        {
            body[field] = null;
            return;
        }

        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var tokens))
        {
            throw CliException.Usage($"{optionName} must be a whole number of tokens or 'none', not '{value}'.");
        }

        body[field] = tokens;
    }

    /// <summary>Splits a comma-separated list (<c>chat,models</c>), dropping blanks and duplicates.</summary>
    public static JsonArray List(string value) =>
        new(value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Distinct(StringComparer.Ordinal).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    /// <summary>
    /// Parses an instant: an ISO 8601 timestamp (no offset = UTC) or a date (midnight UTC). Returns it as an ISO 8601
    /// UTC string.
    /// </summary>
    public static string Instant(string value, string optionName)
    {
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var instant))
        {
            return instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }

        throw CliException.Usage($"{optionName} must be an ISO 8601 date or timestamp (e.g. 2026-11-01 or 2026-11-01T12:00:00Z), not '{value}'.");
    }

    /// <summary>
    /// Parses an expiry: a duration from now (<c>90m</c>, <c>12h</c>, <c>30d</c>) or an instant (see
    /// <see cref="Instant"/>).
    /// </summary>
    public static string Expiry(string value, DateTimeOffset now, string optionName)
    {
        var text = value.Trim();
        if (text.Length >= 2 && long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var amount)
            && amount > 0 && amount <= 36_500 * 24 * 60)
        {
            TimeSpan? span = char.ToLowerInvariant(text[^1]) switch
            {
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                'd' => TimeSpan.FromDays(amount),
                _ => null,
            };
            if (span is { } s && s <= TimeSpan.FromDays(36_500))
            {
                return (now + s).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            }
        }

        try
        {
            return Instant(text, optionName);
        }
        catch (CliException)
        {
            throw CliException.Usage($"{optionName} must be a duration from now (90m, 12h, 30d) or an ISO 8601 timestamp, not '{value}'.");
        }
    }
}

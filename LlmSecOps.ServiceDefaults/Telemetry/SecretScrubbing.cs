using System.Diagnostics;
using System.Text.RegularExpressions;
using OpenTelemetry;
using OpenTelemetry.Logs;

namespace LlmSecOps.ServiceDefaults.Telemetry;

/// <summary>
/// Removes the secret part of anything shaped like an LlmSecOps API key (<c>lso_{env}_{id}_{secret}{crc}</c>) from the
/// spans and log records we export. A client that puts its key in the URL path (CWE-598, RFC 6750 §5.3) would
/// otherwise have it in the server span's name and <c>url.path</c>, and in log messages that quote the path; the gateway
/// refuses such a request, but telemetry is written before anyone decides. The key id stays (it is public and is what
/// an operator needs); the secret becomes <c>***</c>.
/// </summary>
public static partial class SecretScrubbing
{
    /// <summary>What replaces a key's secret part.</summary>
    public const string Mask = "***";

    [GeneratedRegex("(lso_(?:live|test)_[0-9A-Za-z]{4,32}_)[0-9A-Za-z]{8,}", RegexOptions.CultureInvariant)]
    private static partial Regex KeyShape();

    /// <summary>The value with every key-shaped token's secret masked; the same instance when there is none.</summary>
    public static string Scrub(string value) =>
        value.Contains("lso_", StringComparison.Ordinal) ? KeyShape().Replace(value, "$1" + Mask) : value;
}

/// <summary>Scrubs a finished span's name, string tags and status description before any exporter sees it.</summary>
internal sealed class ActivityScrubbingProcessor : BaseProcessor<Activity>
{
    public override void OnEnd(Activity data)
    {
        data.DisplayName = SecretScrubbing.Scrub(data.DisplayName);
        List<KeyValuePair<string, string>>? changed = null;
        foreach (var tag in data.TagObjects)
        {
            if (tag.Value is string text && !ReferenceEquals(SecretScrubbing.Scrub(text), text))
            {
                (changed ??= []).Add(new(tag.Key, SecretScrubbing.Scrub(text)));
            }
        }

        foreach (var (key, value) in changed ?? [])
        {
            data.SetTag(key, value);
        }

        if (data.StatusDescription is { } description && !ReferenceEquals(SecretScrubbing.Scrub(description), description))
        {
            data.SetStatus(data.Status, SecretScrubbing.Scrub(description));
        }
    }
}

/// <summary>Scrubs a log record's message, body and string attributes before any exporter sees it.</summary>
internal sealed class LogScrubbingProcessor : BaseProcessor<LogRecord>
{
    public override void OnEnd(LogRecord data)
    {
        if (data.FormattedMessage is { } message)
        {
            data.FormattedMessage = SecretScrubbing.Scrub(message);
        }

        if (data.Body is { } body)
        {
            data.Body = SecretScrubbing.Scrub(body);
        }

        if (data.Attributes is { Count: > 0 } attributes
            && attributes.Any(a => a.Value is string text && !ReferenceEquals(SecretScrubbing.Scrub(text), text)))
        {
            data.Attributes = attributes.Select(a => a.Value is string text ? new KeyValuePair<string, object?>(a.Key, SecretScrubbing.Scrub(text)) : a).ToList();
        }
    }
}

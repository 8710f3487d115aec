namespace LlmSecOps.Simulator.State;

/// <summary>One request as the simulator received it (before any routing).</summary>
/// <param name="Sequence">1-based position in arrival order since the simulator started (never reused).</param>
/// <param name="Timestamp">When it arrived.</param>
/// <param name="Method">HTTP method.</param>
/// <param name="RawTarget">The request target exactly as sent (undecoded path and query).</param>
/// <param name="Path">The decoded path ASP.NET Core routed on.</param>
/// <param name="Headers">Every header, one pair per value, in arrival order.</param>
/// <param name="BodyBytes">Body length in bytes.</param>
/// <param name="Body">The body as UTF-8 text, cut at <c>Simulator:RequestLogBodyBytes</c>.</param>
public sealed record RecordedRequest(
    long Sequence,
    DateTimeOffset Timestamp,
    string Method,
    string RawTarget,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    long BodyBytes,
    string Body)
{
    /// <summary>The values of a header (case-insensitive name).</summary>
    public IReadOnlyList<string> HeaderValues(string name)
    {
        var values = new List<string>();
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                values.Add(value);
            }
        }

        return values;
    }

    /// <summary>The first value of a header, or null.</summary>
    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }
}

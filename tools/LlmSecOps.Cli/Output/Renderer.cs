using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmSecOps.Cli.Api;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace LlmSecOps.Cli.Output;

/// <summary>
/// Writes answers either as readable tables or, with <c>--json</c>, as the API's JSON (indented, unchanged) on
/// standard output. Server-provided text is always rendered as plain <see cref="Text"/>, never as Spectre markup, so
/// a tenant named <c>[red]</c> cannot break or forge the output.
/// </summary>
public sealed class Renderer(CliHost host, bool json)
{
    // Relaxed escaping: the output is read by people and jq, never embedded in HTML, so "Acme & Co" stays readable
    // instead of becoming "Acme \u0026 Co".
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>True when the operator asked for JSON.</summary>
    public bool IsJson { get; } = json;

    /// <summary>The host's consoles.</summary>
    public CliHost Host { get; } = host;

    /// <summary>Prints the raw JSON answer (used by every command under <c>--json</c>); nothing for an empty answer (204).</summary>
    public void Json(JsonElement? element)
    {
        if (element is { } e)
        {
            Host.OutWriter.WriteLine(JsonSerializer.Serialize(e, Indented));
        }
    }

    /// <summary>Renders one object as a two-column table (field, value), <paramref name="first"/> fields first.</summary>
    public void Object(JsonElement? element, string? title = null, params string[] first)
    {
        if (IsJson)
        {
            Json(element);
            return;
        }

        if (element is not { ValueKind: JsonValueKind.Object } obj)
        {
            Host.Out.Write(new Text((element?.GetRawText() ?? "(no content)") + Environment.NewLine));
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).AddColumn("Field").AddColumn("Value");
        if (title is not null)
        {
            table.Title = new TableTitle(Markup.Escape(title));
        }

        foreach (var (name, value) in Ordered(obj, first))
        {
            // One level of nesting (policy, budget, revocation) reads better as dotted rows than as inline JSON.
            if (value.ValueKind == JsonValueKind.Object && value.EnumerateObject().Any())
            {
                foreach (var inner in value.EnumerateObject())
                {
                    table.AddRow(new Text(Printable($"{name}.{inner.Name}")), new Text(Format(inner.Value)));
                }
            }
            else
            {
                table.AddRow(new Text(Printable(name)), new Text(Format(value)));
            }
        }

        Host.Out.Write(table);
        Host.Out.WriteLine();
    }

    /// <summary>
    /// Renders a list as a table whose columns are <paramref name="columns"/> that occur in the rows (then no others:
    /// the full record is one <c>get</c> or <c>--json</c> away). Accepts a JSON array or an object wrapping one.
    /// </summary>
    public void List(JsonElement? element, string emptyMessage, params string[] columns)
    {
        if (IsJson)
        {
            Json(element);
            return;
        }

        var rows = Rows(element);
        if (rows.Count == 0)
        {
            Host.Out.Write(new Text(emptyMessage + Environment.NewLine));
            return;
        }

        var present = columns.Where(c => rows.Any(r => r.TryGetProperty(c, out _))).ToList();
        if (present.Count == 0)
        {
            // Unknown shape: show every field of the first row rather than nothing.
            present = rows[0].EnumerateObject().Select(p => p.Name).ToList();
        }

        var table = new Table().Border(TableBorder.Rounded);
        foreach (var column in present)
        {
            table.AddColumn(new TableColumn(new Text(Printable(column))));
        }

        foreach (var row in rows)
        {
            table.AddRow(present.Select(c => (IRenderable)new Text(row.TryGetProperty(c, out var v) ? Format(v) : "-")));
        }

        Host.Out.Write(table);
        Host.Out.Write(new Text($"{rows.Count} row(s){Environment.NewLine}"));
    }

    /// <summary>A one-line success notice (human mode only; JSON mode prints the answer instead).</summary>
    public void Notice(string message)
    {
        if (!IsJson)
        {
            Host.Out.Write(new Text(message + Environment.NewLine));
        }
    }

    /// <summary>
    /// Shows a credential the API returns exactly once (a new API key or admin token) on standard output, on a line of
    /// its own so it can be copied or captured, labelled so nobody mistakes it for an id. It is written nowhere else:
    /// no file, no log, no history. Under <c>--json</c> the credential is in the JSON answer instead.
    /// </summary>
    public void SecretOnce(string label, string secret)
    {
        if (IsJson)
        {
            return;
        }

        Host.Out.Write(new Text($"{label} (shown ONCE; the server keeps only a hash, so copy it now):{Environment.NewLine}"));
        Host.OutWriter.WriteLine(secret);
        Host.OutWriter.Flush();
    }

    /// <summary>
    /// Prints an answer that carries a one-time credential in <paramref name="secretField"/> (a new key, a new admin
    /// token): the other fields as a table, then the credential once via <see cref="SecretOnce"/>. Under
    /// <c>--json</c> the answer is printed whole.
    /// </summary>
    public void ObjectWithSecret(JsonElement? answer, string title, string secretField, string label, params string[] first)
    {
        if (IsJson || answer is not { ValueKind: JsonValueKind.Object } obj
            || !obj.TryGetProperty(secretField, out var secret) || secret.ValueKind != JsonValueKind.String)
        {
            Object(answer, title, first);
            return;
        }

        // The table is built from a copy without the secret, so the secret appears exactly once in the output.
        var metadata = JsonNode.Parse(obj.GetRawText())!.AsObject();
        metadata.Remove(secretField);
        Object(JsonSerializer.SerializeToElement(metadata), title, first);
        SecretOnce(label, secret.GetString()!);
    }

    /// <summary>An error on standard error.</summary>
    public void Error(string message) => Host.ErrorWriter.WriteLine("error: " + message);

    /// <summary>
    /// An API refusal on standard error: status and title, the detail, then every validation problem as
    /// <c>field: message</c>. With <c>--json</c> the problem document itself is written to standard error.
    /// </summary>
    public void Problem(AdminApiException problem)
    {
        if (IsJson && problem.Body is { } body)
        {
            Host.ErrorWriter.WriteLine(JsonSerializer.Serialize(body, Indented));
            return;
        }

        var lines = new List<string> { $"error: {(int)problem.Status} {problem.Title}" };
        if (!string.IsNullOrWhiteSpace(problem.Detail))
        {
            lines.Add("  " + problem.Detail);
        }

        foreach (var (field, messages) in problem.Errors)
        {
            foreach (var message in messages)
            {
                lines.Add($"  - {field}: {message}");
            }
        }

        if (problem.ExitCode == ExitCodes.AuthFailure)
        {
            lines.Add(problem.Status == System.Net.HttpStatusCode.Unauthorized
                ? $"  The admin API did not accept the token: check --token / {AdminTarget.TokenVariable}."
                : "  The token is valid but its role may not do this; ask an admin for a token with the right role.");
        }

        // Raw writer: error lines are not re-wrapped to the console width, so they stay greppable.
        foreach (var line in lines)
        {
            Host.ErrorWriter.WriteLine(Printable(line));
        }
    }

    /// <summary>Formats one JSON value for a table cell.</summary>
    public static string Format(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => "-",
        JsonValueKind.String => Printable(Timestamp(value.GetString() ?? "")),
        JsonValueKind.True => "yes",
        JsonValueKind.False => "no",
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.Array when value.EnumerateArray().All(IsScalar) => value.GetArrayLength() == 0
            ? "-"
            : string.Join(", ", value.EnumerateArray().Select(Format)),
        _ => Printable(value.GetRawText()),
    };

    /// <summary>
    /// Replaces control characters (C0, DEL, C1) with U+FFFD. Incident evidence and summaries can carry text an attacker
    /// chose (a leaked key's surroundings in a scanned repository); printed raw, an ESC sequence could rewrite the
    /// operator's terminal or hide lines (CVE-2003-0063-style terminal escape injection).
    /// </summary>
    public static string Printable(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        return string.Create(text.Length, text, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? '\uFFFD' : source[i];
            }
        });
    }

    /// <summary>The rows of a list answer: the array itself, or the first array-valued property of an object.</summary>
    public static List<JsonElement> Rows(JsonElement? element)
    {
        if (element is not { } e)
        {
            return [];
        }

        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in e.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.Array)
                {
                    e = property.Value;
                    break;
                }
            }
        }

        return e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.Object).ToList() : [];
    }

    /// <summary>Formats a count with thousands separators.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>
    /// Shortens the API's UTC timestamps for tables (<c>2026-11-22T01:57:18.002524Z</c> -> <c>2026-11-22 01:57:18Z</c>);
    /// other text is returned as is. <c>--json</c> keeps the exact values.
    /// </summary>
    public static string Timestamp(string text)
    {
        if (text.Length is >= 20 and <= 40 && text[4] == '-' && text[10] == 'T' && text[^1] == 'Z'
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }

        return text;
    }

    private static bool IsScalar(JsonElement value) => value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array);

    private static IEnumerable<(string Name, JsonElement Value)> Ordered(JsonElement obj, string[] first)
    {
        var shown = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in first)
        {
            if (obj.TryGetProperty(name, out var value) && shown.Add(name))
            {
                yield return (name, value);
            }
        }

        foreach (var property in obj.EnumerateObject())
        {
            if (shown.Add(property.Name))
            {
                yield return (property.Name, property.Value);
            }
        }
    }
}

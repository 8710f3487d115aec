using System.Globalization;
using System.Text.Json;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.Control;

/// <summary>
/// The control API for out-of-process users (run.sh, benchmarks), under <c>/_sim/</c>: it is NOT part of any
/// simulated API, is never recorded in the request log, and is never failed by the switches.
/// <list type="bullet">
/// <item><c>GET /_sim/requests?after={sequence}</c>, <c>DELETE /_sim/requests</c></item>
/// <item><c>GET|PUT|DELETE /_sim/switches</c> (PUT merges the given camelCase fields; DELETE resets)</item>
/// <item><c>GET /_sim/models</c>, <c>PUT /_sim/models/{name}/digest</c> <c>{"digest":"sha256:..."}</c></item>
/// <item><c>POST /_sim/reset</c> (switches, models and request log back to their configured state)</item>
/// </list>
/// </summary>
internal static class ControlEndpoints
{
    public const string Prefix = "/_sim";

    public static void MapControl(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix);
        group.MapGet("/requests", GetRequestsAsync);
        group.MapDelete("/requests", static context =>
        {
            State(context).Requests.Clear();
            context.Response.StatusCode = 204;
            return Task.CompletedTask;
        });
        group.MapGet("/switches", static context => WriteSwitchesAsync(context, State(context).Switches));
        group.MapPut("/switches", PutSwitchesAsync);
        group.MapDelete("/switches", static context =>
        {
            State(context).ResetSwitches();
            return WriteSwitchesAsync(context, State(context).Switches);
        });
        group.MapGet("/models", GetModelsAsync);
        group.MapPut("/models/{name}/digest", PutDigestAsync);
        group.MapPost("/reset", static context =>
        {
            State(context).Reset();
            context.Response.StatusCode = 204;
            return Task.CompletedTask;
        });
    }

    private static SimulatorState State(HttpContext context) => context.RequestServices.GetRequiredService<SimulatorState>();

    private static Task GetRequestsAsync(HttpContext context)
    {
        var after = long.TryParse(context.Request.Query["after"], NumberStyles.None, CultureInfo.InvariantCulture, out var a) ? a : 0;
        var log = State(context).Requests;
        var entries = log.Snapshot(after);
        return JsonOutput.WriteAsync(context, 200, (log.TotalRecorded, entries), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteNumber("total"u8, s.TotalRecorded);
            w.WriteStartArray("requests"u8);
            foreach (var entry in s.entries)
            {
                w.WriteStartObject();
                w.WriteNumber("sequence"u8, entry.Sequence);
                w.WriteString("timestamp"u8, entry.Timestamp);
                w.WriteString("method"u8, entry.Method);
                w.WriteString("rawTarget"u8, entry.RawTarget);
                w.WriteString("path"u8, entry.Path);
                w.WriteStartArray("headers"u8);
                foreach (var (name, value) in entry.Headers)
                {
                    w.WriteStartArray();
                    w.WriteStringValue(name);
                    w.WriteStringValue(value);
                    w.WriteEndArray();
                }

                w.WriteEndArray();
                w.WriteNumber("bodyBytes"u8, entry.BodyBytes);
                w.WriteString("body"u8, entry.Body);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static Task WriteSwitchesAsync(HttpContext context, SimulatorSwitches s) =>
        JsonOutput.WriteAsync(context, 200, s, static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteBoolean("ignoreMaxTokens"u8, s.IgnoreMaxTokens);
            w.WriteNumber("completionTokens"u8, s.CompletionTokens);
            if (s.ScriptedTokens is { } scripted)
            {
                w.WriteStartArray("scriptedTokens"u8);
                foreach (var token in scripted)
                {
                    w.WriteStringValue(token);
                }

                w.WriteEndArray();
            }
            else
            {
                w.WriteNull("scriptedTokens"u8);
            }

            w.WriteNumber("tokensPerSecond"u8, s.TokensPerSecond);
            w.WriteNumber("firstTokenDelayMs"u8, s.FirstTokenDelayMs);
            WriteNullable(w, "failMidStreamAfterTokens"u8, s.FailMidStreamAfterTokens);
            w.WriteString("failureMode"u8, s.FailureMode == FailureMode.Abort ? "abort" : "errorFrame");
            WriteNullable(w, "stallMidStreamAfterTokens"u8, s.StallMidStreamAfterTokens);
            WriteNullable(w, "failStatusCode"u8, s.FailStatusCode);
            WriteNullable(w, "failStatusCount"u8, s.FailStatusCount);
            w.WriteEndObject();
        });

    private static void WriteNullable(Utf8JsonWriter w, ReadOnlySpan<byte> name, int? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    /// <summary>Merges the given fields into the current switches; unknown fields and bad values are a 400 listing each problem.</summary>
    private static async Task PutSwitchesAsync(HttpContext context)
    {
        using var document = await ReadJsonAsync(context);
        if (document is null)
        {
            return;
        }

        var errors = new List<string>();
        SimulatorSwitches Apply(SimulatorSwitches s)
        {
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var v = property.Value;
                switch (property.Name)
                {
                    case "ignoreMaxTokens" when v.ValueKind is JsonValueKind.True or JsonValueKind.False:
                        s = s with { IgnoreMaxTokens = v.GetBoolean() };
                        break;
                    case "completionTokens" when TryInt(v, out var n):
                        s = s with { CompletionTokens = n };
                        break;
                    case "scriptedTokens" when v.ValueKind == JsonValueKind.Null:
                        s = s with { ScriptedTokens = null };
                        break;
                    case "scriptedTokens" when v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String):
                        s = s with { ScriptedTokens = [.. v.EnumerateArray().Select(t => t.GetString()!)] };
                        break;
                    case "tokensPerSecond" when v.ValueKind == JsonValueKind.Number:
                        s = s with { TokensPerSecond = v.GetDouble() };
                        break;
                    case "firstTokenDelayMs" when TryInt(v, out var n):
                        s = s with { FirstTokenDelayMs = n };
                        break;
                    case "failMidStreamAfterTokens" when TryNullableInt(v, out var n):
                        s = s with { FailMidStreamAfterTokens = n };
                        break;
                    case "failureMode" when v.ValueKind == JsonValueKind.String && v.GetString() is "abort" or "errorFrame":
                        s = s with { FailureMode = v.GetString() == "abort" ? FailureMode.Abort : FailureMode.ErrorFrame };
                        break;
                    case "stallMidStreamAfterTokens" when TryNullableInt(v, out var n):
                        s = s with { StallMidStreamAfterTokens = n };
                        break;
                    case "failStatusCode" when TryNullableInt(v, out var n):
                        s = s with { FailStatusCode = n };
                        break;
                    case "failStatusCount" when TryNullableInt(v, out var n):
                        s = s with { FailStatusCount = n };
                        break;
                    default:
                        errors.Add($"'{property.Name}': unknown switch or value of the wrong type");
                        break;
                }
            }

            return s;
        }

        var state = State(context);
        try
        {
            // Merge, validate, swap: on any error nothing changes.
            state.UpdateSwitches(current =>
            {
                errors.Clear();
                var next = Apply(current);
                return errors.Count == 0 ? next : throw new ArgumentException(string.Join("; ", errors));
            });
        }
        catch (ArgumentException ex)
        {
            await WriteProblemsAsync(context, errors.Count > 0 ? errors : [ex.Message]);
            return;
        }

        await WriteSwitchesAsync(context, state.Switches);
    }

    private static Task GetModelsAsync(HttpContext context) =>
        JsonOutput.WriteAsync(context, 200, State(context).Models.All, static (w, models) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("models"u8);
            foreach (var m in models)
            {
                w.WriteStartObject();
                w.WriteString("name"u8, m.Name);
                w.WriteString("digest"u8, m.PrefixedDigest);
                w.WriteString("kind"u8, m.IsEmbedding ? "embedding" : "chat");
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });

    private static async Task PutDigestAsync(HttpContext context)
    {
        using var document = await ReadJsonAsync(context);
        if (document is null)
        {
            return;
        }

        var name = (string)context.Request.RouteValues["name"]!;
        var digest = document.RootElement.GetString("digest");
        var state = State(context);
        if (state.Models.Find(name) is null)
        {
            await WriteProblemsAsync(context, [$"model '{name}' is not in the catalogue"], 404);
            return;
        }

        if (digest is null || !state.Models.SetDigest(name, digest))
        {
            await WriteProblemsAsync(context, ["'digest' must be sha256:<64 hex>"]);
            return;
        }

        var model = state.Models.Find(name)!;
        await JsonOutput.WriteAsync(context, 200, model, static (w, m) =>
        {
            w.WriteStartObject();
            w.WriteString("name"u8, m.Name);
            w.WriteString("digest"u8, m.PrefixedDigest);
            w.WriteEndObject();
        });
    }

    private static bool TryNullableInt(JsonElement v, out int? value)
    {
        value = null;
        if (v.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (TryInt(v, out var n))
        {
            value = n;
            return true;
        }

        return false;
    }

    private static bool TryInt(JsonElement v, out int value)
    {
        value = 0;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out value);
    }

    private static async Task<JsonDocument?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                return document;
            }

            document.Dispose();
        }
        catch (JsonException)
        {
        }

        await WriteProblemsAsync(context, ["the body must be a JSON object"]);
        return null;
    }

    private static Task WriteProblemsAsync(HttpContext context, List<string> errors, int status = 400) =>
        JsonOutput.WriteAsync(context, status, errors, static (w, errors) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("errors"u8);
            foreach (var e in errors)
            {
                w.WriteStringValue(e);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
}

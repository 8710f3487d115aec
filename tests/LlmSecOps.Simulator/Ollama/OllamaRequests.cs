using System.Globalization;
using System.Text.Json;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.Models;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.Ollama;

/// <summary>Parsing rules Ollama applies to request fields (api/types.go), kept in one place.</summary>
internal static class OllamaRequests
{
    /// <summary>Ollama's default keep_alive: 5 minutes.</summary>
    public static readonly TimeSpan DefaultKeepAlive = TimeSpan.FromMinutes(5);

    /// <summary>The model a request names (<c>model</c>, or the older <c>name</c>).</summary>
    public static string? ModelName(JsonElement root) => root.GetString("model") is { Length: > 0 } m ? m : root.GetString("name");

    /// <summary>Looks the model up and writes Ollama's error when it is missing or unknown.</summary>
    public static async Task<SimulatedModel?> ResolveModelAsync(HttpContext context, SimulatorState state, string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            await ApiErrors.OllamaAsync(context, 400, "model is required");
            return null;
        }

        var model = state.Models.Find(name);
        if (model is null)
        {
            await ApiErrors.OllamaAsync(context, 404, $"model \"{name}\" not found, try pulling it first");
        }

        return model;
    }

    /// <summary>
    /// Reads <c>options.num_predict</c> and <c>options.seed</c>. Like Ollama's Options.FromMap, integer options accept
    /// JSON numbers (fractions truncated, as Go's int(float64) does) and reject anything else. A num_predict of 0 or
    /// below (-1 = infinite, -2 = fill the context) sets no limit: the runner stops only when numPredict &gt; 0.
    /// </summary>
    public static bool TryReadOptions(JsonElement root, out long? numPredict, out long seed, out string? error)
    {
        numPredict = null;
        seed = 0;
        error = null;
        if (!root.TryGetProperty("options", out var options) || options.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (options.ValueKind != JsonValueKind.Object)
        {
            error = "json: cannot unmarshal " + options.ValueKind.ToString().ToLowerInvariant() + " into Go struct field .options of type map[string]interface {}";
            return false;
        }

        if (options.TryGetProperty("num_predict", out var np) && np.ValueKind != JsonValueKind.Null)
        {
            if (!TryGetGoInt(np, out var value))
            {
                error = "option \"num_predict\" must be of type integer";
                return false;
            }

            numPredict = value > 0 ? value : null;
        }

        if (options.TryGetProperty("seed", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            if (!TryGetGoInt(s, out seed))
            {
                error = "option \"seed\" must be of type integer";
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// keep_alive: a number of seconds or a Go duration string ("5m", "1h30m", "0"); negative = forever; absent = 5 minutes.
    /// </summary>
    public static bool TryReadKeepAlive(JsonElement root, out TimeSpan keepAlive, out string? error)
    {
        keepAlive = DefaultKeepAlive;
        error = null;
        if (!root.TryGetProperty("keep_alive", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var seconds))
        {
            keepAlive = seconds < 0 ? TimeSpan.MaxValue : TimeSpan.FromSeconds(Math.Min(seconds, TimeSpan.MaxValue.TotalSeconds - 1));
            return true;
        }

        if (value.ValueKind == JsonValueKind.String && TryParseGoDuration(value.GetString()!, out keepAlive))
        {
            if (keepAlive < TimeSpan.Zero)
            {
                keepAlive = TimeSpan.MaxValue;
            }

            return true;
        }

        error = value.ValueKind == JsonValueKind.String
            ? $"time: invalid duration \"{value.GetString()}\""
            : "json: cannot unmarshal keep_alive";
        return false;
    }

    /// <summary>Marks the model loaded for keep_alive (0 unloads it), as <c>/api/ps</c> will show.</summary>
    public static void Touch(SimulatorState state, SimulatedModel model, TimeSpan keepAlive, TimeProvider time) =>
        state.Models.MarkLoaded(model.Name, keepAlive == TimeSpan.Zero ? null
            : keepAlive == TimeSpan.MaxValue ? DateTimeOffset.MaxValue : time.GetUtcNow() + keepAlive);

    /// <summary>Go's time.ParseDuration for the units Ollama users write (ns, us, µs, ms, s, m, h), signs and fractions.</summary>
    public static bool TryParseGoDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var s = text.AsSpan();
        if (s.Length == 0)
        {
            return false;
        }

        var negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.SequenceEqual("0"))
        {
            return true;
        }

        double totalMs = 0;
        while (s.Length > 0)
        {
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == 0 || !double.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            s = s[i..];
            var j = 0;
            while (j < s.Length && !char.IsAsciiDigit(s[j]) && s[j] != '.')
            {
                j++;
            }

            double? unitMs = s[..j] switch
            {
                "ns" => 1e-6,
                "us" or "µs" or "μs" => 1e-3,
                "ms" => 1,
                "s" => 1e3,
                "m" => 60e3,
                "h" => 3600e3,
                _ => null,
            };
            if (unitMs is null)
            {
                return false;
            }

            totalMs += number * unitMs.Value;
            s = s[j..];
        }

        duration = TimeSpan.FromMilliseconds(Math.Min(totalMs, TimeSpan.MaxValue.TotalMilliseconds - 1));
        if (negative)
        {
            duration = -duration;
        }

        return true;
    }

    private static bool TryGetGoInt(JsonElement value, out long number)
    {
        number = 0;
        if (value.ValueKind != JsonValueKind.Number)
        {
            return false;
        }

        if (value.TryGetInt64(out number))
        {
            return true;
        }

        var d = value.GetDouble();
        number = d >= long.MaxValue ? long.MaxValue : d <= long.MinValue ? long.MinValue : (long)Math.Truncate(d);
        return true;
    }
}

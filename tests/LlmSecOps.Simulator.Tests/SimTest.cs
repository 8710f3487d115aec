using System.Text;
using System.Text.Json.Nodes;

namespace LlmSecOps.Simulator.Tests;

/// <summary>Helpers: real HTTP to a simulator on loopback, and readers for NDJSON and SSE bodies.</summary>
internal static class SimTest
{
    public static HttpClient Client(SimulatorHost sim) => new() { BaseAddress = sim.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public static async Task<JsonObject> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    /// <summary>Every line of an NDJSON body, parsed.</summary>
    public static async Task<JsonObject[]> NdjsonAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject())];
    }

    /// <summary>The data of every SSE event; <c>[DONE]</c> is kept as the literal string.</summary>
    public static async Task<string[]> SseDataAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        return [.. events.Select(e => e["data: ".Length..])];
    }

    public static string MediaType(this HttpResponseMessage response) => response.Content.Headers.ContentType?.MediaType ?? "";

    public static string[] Names(this JsonObject obj) => [.. obj.Select(p => p.Key)];
}

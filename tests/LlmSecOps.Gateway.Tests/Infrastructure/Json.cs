using System.Net.Http.Json;
using System.Text.Json;

namespace LlmSecOps.Gateway.Tests.Infrastructure;

/// <summary>Small helpers for reading JSON answers.</summary>
public static class Json
{
    public static async Task<JsonElement> ReadAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;
}

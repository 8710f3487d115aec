using System.Text.Json;
using Dapper;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Database;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// The minimal data plane the control plane needs for its walkthrough: <c>GET /v1/models</c> and <c>GET /api/tags</c>
/// list the approved models the caller's tier allows (from the control plane's tables, not the upstream).
/// </summary>
public static class ModelListEndpoints
{
    /// <summary>Maps the OpenAI listing onto the <c>/v1</c> group.</summary>
    public static RouteGroupBuilder MapOpenAIModelList(this RouteGroupBuilder v1)
    {
        v1.MapGet("/models", async (HttpContext http, GatewayDatabase db, CancellationToken ct) =>
        {
            var caller = http.Caller();
            if (!caller.Key.Scopes.Contains(KeyScopes.Models))
            {
                return KeyAuthentication.Error(ApiFormat.OpenAI, StatusCodes.Status403Forbidden, "This API key's scopes do not include 'models'.", "permission_error", "scope_not_allowed");
            }

            var models = await AllowedAsync(db, caller.Tenant.Tier, ct);
            return Results.Json(new
            {
                @object = "list",
                data = models.Select(m => new { id = m.Name, @object = "model", created = new DateTimeOffset(DateTime.SpecifyKind(m.ApprovedAt, DateTimeKind.Utc)).ToUnixTimeSeconds(), owned_by = "library" }),
            });
        });
        return v1;
    }

    /// <summary>Maps the Ollama listing onto the <c>/api</c> group.</summary>
    public static RouteGroupBuilder MapOllamaModelList(this RouteGroupBuilder api)
    {
        api.MapGet("/tags", async (HttpContext http, GatewayDatabase db, CancellationToken ct) =>
        {
            var caller = http.Caller();
            if (!caller.Key.Scopes.Contains(KeyScopes.Models))
            {
                return KeyAuthentication.Error(ApiFormat.Ollama, StatusCodes.Status403Forbidden, "This API key's scopes do not include 'models'.", "permission_error", "scope_not_allowed");
            }

            var models = await AllowedAsync(db, caller.Tenant.Tier, ct);
            var upstream = await UpstreamTagsAsync(http.RequestServices.GetRequiredService<UpstreamClient>(),
                http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<DataPlaneOptions>>().Value.UpstreamApiKey, ct);
            if (upstream is not null)
            {
                // With an upstream: its entries (size, details) for the models the caller may use, and only where the
                // upstream's digest is still the approved pin (a changed model behind the same name is not listed).
                var listed = new List<JsonElement>();
                foreach (var m in models)
                {
                    if (upstream.TryGetValue(m.Name, out var entry) && entry.TryGetProperty("digest", out var d) &&
                        string.Equals("sha256:" + d.GetString()?.Replace("sha256:", "", StringComparison.Ordinal), m.Digest, StringComparison.Ordinal))
                    {
                        listed.Add(entry);
                    }
                }

                return Results.Json(new { models = listed });
            }

            return Results.Json(new
            {
                models = models.Select(m => new
                {
                    name = m.Name,
                    model = m.Name,
                    modified_at = DateTime.SpecifyKind(m.ApprovedAt, DateTimeKind.Utc),
                    digest = m.Digest["sha256:".Length..],
                }),
            });
        });
        return api;
    }

    /// <summary>The upstream's <c>/api/tags</c> by canonical name, or null when it cannot be read.</summary>
    internal static async Task<Dictionary<string, JsonElement>?> UpstreamTagsAsync(UpstreamClient upstream, string? upstreamApiKey, CancellationToken ct)
    {
        if (upstream.BaseAddress is null)
        {
            return null;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(upstream.BaseAddress, "/api/tags"));
            if (upstreamApiKey is not null)
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", upstreamApiKey);
            }

            using var response = await upstream.Invoker.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(timeout.Token), cancellationToken: timeout.Token);
            var byName = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var entry in document.RootElement.GetProperty("models").EnumerateArray())
            {
                if (entry.TryGetProperty("name", out var name) && name.GetString() is { } n)
                {
                    byName[Inference.Parameters.ModelNames.Canonicalize(n)] = entry.Clone();
                }
            }

            return byName;
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or OperationCanceledException or InvalidOperationException or KeyNotFoundException)
        {
            return null;
        }
    }

    private static async Task<List<ModelRow>> AllowedAsync(GatewayDatabase db, string tier, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<ModelRow>(new CommandDefinition(
            """
            SELECT m.name, m.digest, m.approved_at FROM models m JOIN tiers t ON t.name = @tier
            WHERE '*' = ANY(t.allowed_models) OR m.name = ANY(t.allowed_models)
            ORDER BY m.name
            """, new { tier }, cancellationToken: ct));
        return rows.AsList();
    }

    private sealed class ModelRow
    {
        public string Name { get; set; } = "";
        public string Digest { get; set; } = "";
        public DateTime ApprovedAt { get; set; }
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlmSecOps.KeyLeakWatcher.Actions;

/// <summary>What the control plane knows about a key (from <c>POST /admin/keys/lookup</c>).</summary>
/// <param name="KeyId">The key's public id.</param>
/// <param name="TenantId">Its tenant.</param>
/// <param name="Status">e.g. <c>active</c>, <c>revoked</c>, <c>expired</c>.</param>
public sealed record KeyStatus(string KeyId, string? TenantId, string Status)
{
    /// <summary>True when the key still works and must be revoked.</summary>
    public bool IsActive => string.Equals(Status, "active", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// The two control-plane calls the watcher makes (ARCHITECTURE.md): look a key up by token hash and revoke it with
/// <c>source: "leak"</c> and the place it was found as evidence (the control plane opens the incident and notifies
/// the owner). Authenticated with the watcher's service token.
/// </summary>
public sealed class ControlPlaneClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Builds a client for <paramref name="options"/> (the CLI; the service uses the HTTP client factory).</summary>
    public static ControlPlaneClient Create(ControlPlaneOptions options)
    {
        var http = new HttpClient();
        Configure(http, options);
        return new ControlPlaneClient(http);
    }

    /// <summary>Sets the base address, timeout and bearer token.</summary>
    public static void Configure(HttpClient http, ControlPlaneOptions options)
    {
        http.BaseAddress = options.BaseUrl;
        http.Timeout = options.Timeout;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
    }

    /// <summary>The key with this token hash, or null when the control plane does not know it (404).</summary>
    public async Task<KeyStatus?> LookupAsync(string tokenHash, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash }, Json, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "look-up", cancellationToken);
        return Parse(await response.Content.ReadFromJsonAsync<KeyDocument>(Json, cancellationToken));
    }

    /// <summary>Revokes a key (idempotent on the control plane's side); returns its state afterwards.</summary>
    public async Task<KeyStatus?> RevokeAsync(string keyId, string reason, object evidence, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(
            $"/admin/keys/{Uri.EscapeDataString(keyId)}/revoke",
            new { reason, source = "leak", evidence },
            Json,
            cancellationToken);
        await EnsureSuccessAsync(response, "revocation", cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return string.IsNullOrWhiteSpace(text) ? null : Parse(JsonSerializer.Deserialize<KeyDocument>(text, Json));
    }

    private static KeyStatus? Parse(KeyDocument? document)
    {
        var id = document?.KeyId ?? document?.Id;
        return document is null || id is null ? null : new KeyStatus(id, document.TenantId, document.Status ?? "unknown");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        throw new ControlPlaneException($"Control-plane {what} failed: {(int)response.StatusCode} {response.ReasonPhrase} {body[..Math.Min(body.Length, 500)]}", response.StatusCode);
    }

    private sealed class KeyDocument
    {
        [JsonPropertyName("keyId")]
        public string? KeyId { get; set; }

        [JsonPropertyName("id")]
        public string? Id { get; set; }

        [JsonPropertyName("tenantId")]
        public string? TenantId { get; set; }

        [JsonPropertyName("status")]
        public string? Status { get; set; }
    }
}

/// <summary>The control plane answered with an error or could not be reached.</summary>
public sealed class ControlPlaneException(string message, HttpStatusCode? status = null) : Exception(message)
{
    /// <summary>HTTP status when there was an answer.</summary>
    public HttpStatusCode? Status { get; } = status;
}

using System.Net.Http.Headers;
using System.Text.Json;
using LlmSecOps.AnomalyScorer.Decisions;
using Microsoft.Extensions.Options;

namespace LlmSecOps.AnomalyScorer.ControlPlane;

/// <summary>What the scorer asks of the gateway's control plane.</summary>
public interface IControlPlaneClient
{
    /// <summary><c>POST /admin/keys/{keyId}/revoke</c> with <c>{reason, source: "anomaly", evidence}</c>.</summary>
    Task RevokeAsync(Decision decision, CancellationToken cancellationToken);

    /// <summary><c>POST /admin/incidents</c> for a flag-only decision.</summary>
    Task CreateIncidentAsync(Decision decision, CancellationToken cancellationToken);
}

/// <summary>The control plane over HTTP (ARCHITECTURE.md, "Control-plane API"), with the scorer's service token.</summary>
public sealed class HttpControlPlaneClient(HttpClient http, IOptions<ControlPlaneOptions> options) : IControlPlaneClient
{
    /// <summary>The <c>source</c> the scorer's incidents carry.</summary>
    public const string Source = "anomaly";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <inheritdoc />
    public Task RevokeAsync(Decision decision, CancellationToken cancellationToken) =>
        PostAsync($"admin/keys/{Uri.EscapeDataString(decision.KeyId)}/revoke",
            new { reason = decision.Reason, source = Source, evidence = Evidence(decision) }, cancellationToken);

    /// <inheritdoc />
    public Task CreateIncidentAsync(Decision decision, CancellationToken cancellationToken) =>
        PostAsync("admin/incidents",
            new { source = Source, keyId = decision.KeyId, tenantId = decision.TenantId, summary = decision.Reason, evidence = Evidence(decision) },
            cancellationToken);

    private static object Evidence(Decision d) => new
    {
        decisionId = d.Id,
        decidedAt = d.At,
        policy = d.Policy.ToString().ToLowerInvariant(),
        combinedPValue = d.Evidence.CombinedPValue,
        hardRule = d.Evidence.HardRule,
        signals = d.Evidence.Signals,
        knownCountries = d.Evidence.KnownCountries,
        medianRequestsPerActiveMinute = double.IsNaN(d.Evidence.MedianRequestsPerActiveMinute) ? (double?)null : d.Evidence.MedianRequestsPerActiveMinute,
        requestsThisMinute = d.Evidence.RequestsThisMinute,
    };

    private async Task PostAsync(string path, object body, CancellationToken cancellationToken)
    {
        var o = options.Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(EnsureSlash(o.BaseUrl!)), path))
        {
            Content = JsonContent.Create(body, options: Json),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.Token);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(o.TimeoutSeconds));
        using var response = await http.SendAsync(request, timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            throw new ControlPlaneException((int)response.StatusCode, $"{request.Method} /{path} answered {(int)response.StatusCode}");
        }
    }

    private static string EnsureSlash(string url) => url.EndsWith('/') ? url : url + "/";
}

/// <summary>The control plane refused a request.</summary>
public sealed class ControlPlaneException(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status.</summary>
    public int Status { get; } = status;

    /// <summary>Whether trying again can help (5xx, 408, 429).</summary>
    public bool Transient => Status is >= 500 or 408 or 429;
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Aspire.Hosting.Testing;

namespace LlmSecOps.AppHost.Tests;

/// <summary>
/// Starts the real AppHost (Postgres, Redis and Ollama containers, the three services) and checks the gateway from
/// the outside: no key, 401; a key issued through the admin API with the bootstrap token, 200.
/// </summary>
public sealed class GatewaySmokeTests
{
    // First runs pull the container images; give them time, the assertion itself is not about speed.
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task GatewayRefusesARequestWithoutAKeyAndServesOneWithAKeyIssuedByTheAdminApi()
    {
        using var timeout = new CancellationTokenSource(s_timeout);
        var ct = timeout.Token;
        var adminToken = NewSecret();
        string[] args =
        [
            $"--Parameters:postgres-password={NewSecret()}",
            $"--Parameters:pepper={NewSecret()}",
            $"--Parameters:bootstrap-admin-token={adminToken}",
            $"--Parameters:scorer-service-token={NewSecret()}",
            $"--Parameters:watcher-service-token={NewSecret()}",
        ];

        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.LlmSecOps_AppHost>(args, ct);

        // Run on throw-away storage: the AppHost's named volumes belong to the developer's own stack (whose Postgres
        // was initialised with a different password).
        foreach (var resource in builder.Resources)
        {
            foreach (var mount in resource.Annotations.OfType<Aspire.Hosting.ApplicationModel.ContainerMountAnnotation>().ToList())
            {
                resource.Annotations.Remove(mount);
            }
        }

        await using var app = await builder.BuildAsync(ct);
        await app.StartAsync(ct);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("gateway", ct);

        using var data = app.CreateHttpClient("gateway", "data");
        using var admin = app.CreateHttpClient("gateway", "admin");
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);

        using (var anonymous = await data.GetAsync(new Uri("/v1/models", UriKind.Relative), ct))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        var tenantId = await PostAndReadAsync(admin, "/admin/tenants", new { name = "smoke-test", tier = "default" }, "id", ct);
        var key = await PostAndReadAsync(admin, $"/admin/tenants/{tenantId}/keys", new { name = "smoke-test" }, "key", ct);

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/v1/models", UriKind.Relative));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var authorized = await data.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
    }

    private static async Task<string> PostAndReadAsync(HttpClient client, string path, object body, string property, CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync(new Uri(path, UriKind.Relative), body, ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        var value = json.RootElement.GetProperty(property).GetString();
        Assert.False(string.IsNullOrEmpty(value), $"{path} answered without '{property}'.");
        return value;
    }

    // 64 hex characters: 256 bits of entropy, and a valid value whether the service reads it as text, hex or base64.
    private static string NewSecret() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
}

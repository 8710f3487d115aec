using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using LlmSecOps.Gateway.Tests.DataPlane;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Simulator;
using LlmSecOps.Testing.Certificates;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Tests.Admin;

/// <summary>
/// Issue 4 point 12: per-listener certificates, HSTS on the data plane over HTTPS only (RFC 6797), mTLS on the admin
/// listener. Certificates are made in the test by a throw-away CA (ECDSA P-256) and written as PEM files.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly TlsTestMaterial _tls = new();

    public void Dispose() => _tls.Dispose();

    [Fact]
    public async Task HttpsDataPlaneSendsHstsAndTheMutualTlsAdminListenerLetsInOnlyItsOwnCasClients()
    {
        using var server = _tls.Ca.IssueServer();
        var (cert, key) = TestCertificateAuthority.WritePem(server, _tls.Directory, "server");
        var caPath = _tls.Ca.WriteCertificatePem(_tls.Directory, "operators-ca");
        await using var simulator = await SimulatorHost.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["ConnectionStrings:ollama"] = "Endpoint=" + simulator.BaseAddress.ToString().TrimEnd('/'),
            ["DataPlane:JournalDirectory"] = Path.Combine(_tls.Directory, "journal"),
            ["Listeners:Data:CertificatePath"] = cert,
            ["Listeners:Data:CertificateKeyPath"] = key,
            ["Listeners:Admin:CertificatePath"] = cert,
            ["Listeners:Admin:CertificateKeyPath"] = key,
            ["Listeners:Admin:RequireClientCertificate"] = "true",
            ["Listeners:Admin:ClientCertificateAuthorityPath"] = caPath,
        });
        Assert.StartsWith("https://", gateway.AdminUrl, StringComparison.Ordinal);
        Assert.StartsWith("https://", gateway.DataUrl, StringComparison.Ordinal);

        // Admin: refused at the TLS handshake without a client certificate, with one from another CA, and with one of
        // our CA that is not for client authentication; an operator certificate of our CA gets in.
        using var foreign = _tls.OtherCa.IssueClient("operator");
        using var serverOnly = _tls.Ca.IssueServer("not-a-client");
        foreach (var presented in new X509Certificate2?[] { null, foreign, serverOnly })
        {
            using var refused = Client(gateway.AdminUrl, presented, "Bearer " + gateway.BootstrapToken);
            Assert.False(await SucceedsAsync(() => refused.GetAsync(new Uri("/admin/tiers", UriKind.Relative))), presented?.Subject ?? "no certificate");
        }

        using var operatorCertificate = _tls.Ca.IssueClient("operator");
        using var admin = Client(gateway.AdminUrl, operatorCertificate, "Bearer " + gateway.BootstrapToken);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(new Uri("/admin/tiers", UriKind.Relative))).StatusCode);
        // A certificate alone is not an admin credential: the bearer token is still required.
        using var noToken = Client(gateway.AdminUrl, operatorCertificate, null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await noToken.GetAsync(new Uri("/admin/tiers", UriKind.Relative))).StatusCode);

        // Set up a tenant and key through the mTLS admin API, then use the data plane over HTTPS.
        using var upstream = new HttpClient { BaseAddress = simulator.BaseAddress };
        var tags = await upstream.GetFromJsonAsync<JsonElement>("/api/tags");
        foreach (var model in tags.GetProperty("models").EnumerateArray())
        {
            (await admin.PutAsJsonAsync($"/admin/models/{model.GetProperty("name").GetString()}", new { digest = "sha256:" + model.GetProperty("digest").GetString()!.Replace("sha256:", "", StringComparison.Ordinal) })).EnsureSuccessStatusCode();
        }

        var tenant = await admin.PostAsJsonAsync("/admin/tenants", new { name = "tls" });
        Assert.Equal(HttpStatusCode.Created, tenant.StatusCode);
        var tenantId = (await tenant.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var issued = await admin.PostAsJsonAsync($"/admin/tenants/{tenantId}/keys", new { name = "k" });
        Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        var apiKey = (await issued.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;

        using var data = Client(gateway.DataUrl, null, "Bearer " + apiKey);
        var chat = await data.PostAsync(new Uri("/v1/chat/completions", UriKind.Relative), new StringContent(
            $$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hello"}]}""", Encoding.UTF8, "application/json"));
        Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
        Assert.Equal("max-age=31536000", Assert.Single(chat.Headers.GetValues("Strict-Transport-Security")));

        using var anonymous = Client(gateway.DataUrl, null, null);
        var refusedData = await anonymous.GetAsync(new Uri("/v1/models", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, refusedData.StatusCode);
        Assert.Equal("max-age=31536000", Assert.Single(refusedData.Headers.GetValues("Strict-Transport-Security")));
    }

    [Fact]
    public async Task HstsMaxAgeAndIncludeSubDomainsAreConfigurable()
    {
        using var server = _tls.Ca.IssueServer();
        var (cert, key) = TestCertificateAuthority.WritePem(server, _tls.Directory, "server");
        await using var gateway = await GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["DataPlane:JournalDirectory"] = Path.Combine(_tls.Directory, "journal"),
            ["Listeners:Data:CertificatePath"] = cert,
            ["Listeners:Data:CertificateKeyPath"] = key,
            ["DataPlane:Hsts:MaxAge"] = "1.00:00:00",
            ["DataPlane:Hsts:IncludeSubDomains"] = "true",
        });

        using var data = Client(gateway.DataUrl, null, null);
        var response = await data.GetAsync(new Uri("/v1/models", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("max-age=86400; includeSubDomains", Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));

        // Every HTTPS response of the data listener carries it, also an admin route that does not exist there (404).
        var notHere = await data.GetAsync(new Uri("/admin/tiers", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, notHere.StatusCode);
        Assert.Equal("max-age=86400; includeSubDomains", Assert.Single(notHere.Headers.GetValues("Strict-Transport-Security")));

        // The admin listener is plain HTTP here and never carries the data plane's policy.
        using var admin = gateway.Admin();
        var tiers = await admin.GetAsync(new Uri("/admin/tiers", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, tiers.StatusCode);
        Assert.False(tiers.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task APlainHttpDataPlaneNeverSendsHsts()
    {
        await using var gateway = await GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["DataPlane:JournalDirectory"] = Path.Combine(_tls.Directory, "journal"),
        });

        using var data = gateway.Data();
        var response = await data.GetAsync(new Uri("/v1/models", UriKind.Relative));

        // RFC 6797 §7.2: an HSTS host must not include the header in responses over non-secure transport.
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.False(response.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task AnHstsPreloadWithoutIncludeSubDomainsStopsStartUp()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => GatewayHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["DataPlane:JournalDirectory"] = Path.Combine(_tls.Directory, "journal"),
            ["DataPlane:Hsts:Preload"] = "true",
            ["DataPlane:Hsts:MaxAge"] = "-00:00:01",
        }));

        Assert.Equal(2, ex.Failures.Count());
        Assert.Contains("DataPlane:Hsts:Preload needs DataPlane:Hsts:IncludeSubDomains=true", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DataPlane:Hsts:MaxAge must not be negative", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A client that trusts only the test CA for the server, optionally presenting a client certificate.</summary>
    private HttpClient Client(string baseUrl, X509Certificate2? clientCertificate, string? authorization)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) => _tls.Ca.ValidateServer(certificate as X509Certificate2, errors);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }

        var client = new HttpClient(handler) { BaseAddress = new Uri(baseUrl) };
        if (authorization is not null)
        {
            client.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(authorization);
        }

        return client;
    }

    /// <summary>True for a 2xx answer; false when the connection was refused or failed (a TLS handshake refusal).</summary>
    private static async Task<bool> SucceedsAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            using var response = await send();
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}

using System.Net;
using System.Security.Cryptography.X509Certificates;
using LlmSecOps.ServiceDefaults.Listeners;
using LlmSecOps.Testing.Certificates;
using LlmSecOps.Testing.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace LlmSecOps.ServiceDefaults.Tests.Listeners;

/// <summary>
/// Per-listener certificates (<c>Listeners:{Name}:CertificatePath</c>) and mTLS (<c>RequireClientCertificate</c> +
/// <c>ClientCertificateAuthorityPath</c>) with certificates made in the test by a throw-away CA.
/// </summary>
public sealed class TlsListenerTests : IDisposable
{
    private readonly TlsTestMaterial _tls = new();

    public void Dispose() => _tls.Dispose();

    [Fact]
    public async Task AListenerWithAPemCertificateServesHttpsAndTheOtherStaysPlainHttp()
    {
        using var server = _tls.Ca.IssueServer();
        var (cert, key) = TestCertificateAuthority.WritePem(server, _tls.Directory, "server");
        await using var app = await StartAsync(new()
        {
            ["Listeners:Data:CertificatePath"] = cert,
            ["Listeners:Data:CertificateKeyPath"] = key,
        });
        var registry = app.Services.GetRequiredService<ListenerRegistry>();
        Assert.StartsWith("https://", registry.Get("Data").BaseUrl, StringComparison.Ordinal);
        Assert.StartsWith("http://", registry.Get("Admin").BaseUrl, StringComparison.Ordinal);

        using var client = new HttpClient(Handler(null));
        var response = await client.GetAsync(new Uri(registry.Get("Data").BaseUrl + "/v1/data"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("https", await response.Content.ReadAsStringAsync());

        // Plain HTTP on the HTTPS port gets no answer from the app.
        using var plain = new HttpClient();
        var plainUrl = new Uri($"http://127.0.0.1:{registry.Get("Data").Port}/v1/data");
        var plainOk = await Succeeds(() => plain.GetAsync(plainUrl));
        Assert.False(plainOk);

        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(registry.Get("Admin").BaseUrl + "/admin/x"))).StatusCode);
    }

    [Fact]
    public async Task APasswordProtectedPfxCertificateWorksToo()
    {
        using var server = _tls.Ca.IssueServer();
        var pfx = TestCertificateAuthority.WritePfx(server, _tls.Directory, "server", "s3cret-pfx");
        await using var app = await StartAsync(new()
        {
            ["Listeners:Admin:CertificatePath"] = pfx,
            ["Listeners:Admin:CertificatePassword"] = "s3cret-pfx",
        });

        using var client = new HttpClient(Handler(null));
        var url = app.Services.GetRequiredService<ListenerRegistry>().Get("Admin").BaseUrl + "/admin/x";
        Assert.Equal("admin https", await client.GetStringAsync(new Uri(url)));
    }

    [Fact]
    public async Task MutualTlsLetsInOnlyClientCertificatesOfTheConfiguredAuthority()
    {
        using var server = _tls.Ca.IssueServer();
        var (cert, key) = TestCertificateAuthority.WritePem(server, _tls.Directory, "server");
        var caPath = _tls.Ca.WriteCertificatePem(_tls.Directory, "clients-ca");
        await using var app = await StartAsync(new()
        {
            ["Listeners:Admin:CertificatePath"] = cert,
            ["Listeners:Admin:CertificateKeyPath"] = key,
            ["Listeners:Admin:RequireClientCertificate"] = "true",
            ["Listeners:Admin:ClientCertificateAuthorityPath"] = caPath,
        });
        var url = new Uri(app.Services.GetRequiredService<ListenerRegistry>().Get("Admin").BaseUrl + "/admin/whoami");

        using var good = _tls.Ca.IssueClient("operator-1");
        using (var client = new HttpClient(Handler(good)))
        {
            // The app sees the verified certificate.
            Assert.Equal("CN=operator-1", await client.GetStringAsync(url));
        }

        // No certificate, one from another CA, and one from the right CA that is not for client authentication
        // (a server certificate, EKU serverAuth only): all refused during the TLS handshake.
        using var foreign = _tls.OtherCa.IssueClient("operator-1");
        using var serverOnly = _tls.Ca.IssueServer("not-a-client");
        foreach (var presented in new X509Certificate2?[] { null, foreign, serverOnly })
        {
            using var client = new HttpClient(Handler(presented));
            Assert.False(await Succeeds(() => client.GetAsync(url)), presented?.Subject ?? "no certificate");
        }

        // The data listener (no mTLS) is untouched.
        using var plain = new HttpClient();
        var data = app.Services.GetRequiredService<ListenerRegistry>().Get("Data").BaseUrl;
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(data + "/v1/data"))).StatusCode);
    }

    [Fact]
    public async Task ARenewedCertificateIsServedWithoutARestartAndABrokenRenewalKeepsThePreviousOne()
    {
        using var first = _tls.Ca.IssueServer("first");
        var (cert, key) = TestCertificateAuthority.WritePem(first, _tls.Directory, "server");
        var logs = new CapturingLoggerProvider();
        await using var app = await StartAsync(new()
        {
            ["Listeners:Data:CertificatePath"] = cert,
            ["Listeners:Data:CertificateKeyPath"] = key,
            ["Listeners:Data:CertificateReloadInterval"] = "00:00:00.100",
        }, logs);
        var url = new Uri(app.Services.GetRequiredService<ListenerRegistry>().Get("Data").BaseUrl + "/v1/data");
        Assert.Equal("CN=first", await ServerSubjectAsync(url));

        // A renewal caught half way (the new certificate next to a key that is not its own) does not load: the previous
        // certificate stays in service and a warning says why.
        using var second = _tls.Ca.IssueServer("second");
        using var unrelated = _tls.Ca.IssueServer("unrelated");
        var staging = TestCertificateAuthority.NewDirectory();
        var (secondCert, secondKey) = TestCertificateAuthority.WritePem(second, staging, "second");
        var (_, unrelatedKey) = TestCertificateAuthority.WritePem(unrelated, staging, "unrelated");
        File.Copy(unrelatedKey, key + ".tmp");
        File.Move(key + ".tmp", key, overwrite: true);
        File.Copy(secondCert, cert + ".tmp");
        File.Move(cert + ".tmp", cert, overwrite: true);
        await UntilAsync(async () => (await ServerSubjectAsync(url)) is not null && logs.Lines.Any(l => l.Contains("[9102]", StringComparison.Ordinal)));
        Assert.Equal("CN=first", await ServerSubjectAsync(url));

        // The matching key arrives: new connections get the renewed certificate.
        File.Copy(secondKey, key + ".tmp");
        File.Move(key + ".tmp", key, overwrite: true);
        await UntilAsync(async () => await ServerSubjectAsync(url) == "CN=second");
        Assert.Contains(logs.Lines, l => l.Contains("[9101]", StringComparison.Ordinal) && l.Contains("CN=second", StringComparison.Ordinal));
        Directory.Delete(staging, recursive: true);
    }

    [Fact]
    public async Task AReplacedClientCertificateAuthorityFileTakesEffectWithoutARestart()
    {
        using var server = _tls.Ca.IssueServer();
        var (cert, key) = TestCertificateAuthority.WritePem(server, _tls.Directory, "server");
        var caPath = _tls.Ca.WriteCertificatePem(_tls.Directory, "clients-ca");
        var logs = new CapturingLoggerProvider();
        await using var app = await StartAsync(new()
        {
            ["Listeners:Admin:CertificatePath"] = cert,
            ["Listeners:Admin:CertificateKeyPath"] = key,
            ["Listeners:Admin:RequireClientCertificate"] = "true",
            ["Listeners:Admin:ClientCertificateAuthorityPath"] = caPath,
            ["Listeners:Admin:CertificateReloadInterval"] = "00:00:00.100",
        }, logs);
        var url = new Uri(app.Services.GetRequiredService<ListenerRegistry>().Get("Admin").BaseUrl + "/admin/whoami");
        using var ours = _tls.Ca.IssueClient("ours");
        using var theirs = _tls.OtherCa.IssueClient("theirs");
        Assert.True(await SucceedsWithAsync(url, ours));
        Assert.False(await SucceedsWithAsync(url, theirs));

        // The operators' CA is rotated: the file now names the other CA only.
        var staging = TestCertificateAuthority.NewDirectory();
        var rotated = _tls.OtherCa.WriteCertificatePem(staging, "rotated");
        File.Move(rotated, caPath, overwrite: true);

        await UntilAsync(() => SucceedsWithAsync(url, theirs));
        Assert.False(await SucceedsWithAsync(url, ours));
        Assert.Contains(logs.Lines, l => l.Contains("[9101]", StringComparison.Ordinal) && l.Contains("CN=Some other CA", StringComparison.Ordinal));
        Directory.Delete(staging, recursive: true);
    }

    [Fact]
    public void TlsMisconfigurationFailsAtStartWithEveryProblemListed()
    {
        var missing = Path.Combine(_tls.Directory, "missing.crt");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["Listeners:Data:CertificatePath"] = missing;
        builder.Configuration["Listeners:Data:ClientCertificateAuthorityPath"] = missing + ".ca";
        builder.Configuration["Listeners:Admin:RequireClientCertificate"] = "true";

        var error = Assert.Throws<OptionsValidationException>(() => builder.AddServiceDefaults(
            new ListenerDefinition("Data", "127.0.0.1", 0, false),
            new ListenerDefinition("Admin", "127.0.0.1", 0, true)));

        Assert.Contains(error.Failures, f => f.Contains("Listeners:Data:CertificatePath", StringComparison.Ordinal) && f.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Listeners:Data:ClientCertificateAuthorityPath", StringComparison.Ordinal) && f.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("RequireClientCertificate is not true", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Listeners:Admin:RequireClientCertificate needs Listeners:Admin:CertificatePath", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Listeners:Admin:RequireClientCertificate needs Listeners:Admin:ClientCertificateAuthorityPath", StringComparison.Ordinal));
    }

    private static async Task<WebApplication> StartAsync(Dictionary<string, string> settings, CapturingLoggerProvider? logs = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.Configuration["Listeners:Data:Port"] = "0";
        builder.Configuration["Listeners:Admin:Port"] = "0";
        foreach (var (k, v) in settings)
        {
            builder.Configuration[k] = v;
        }

        builder.AddServiceDefaults(
            new ListenerDefinition("Data", "127.0.0.1", 8080, IsManagement: false),
            new ListenerDefinition("Admin", "127.0.0.1", 8081, IsManagement: true));
        var app = builder.Build();
        app.UseRouting();
        app.UseListenerIsolation();
        app.MapGet("/v1/data", (HttpContext http) => http.Request.Scheme).RequireListener("Data");
        app.MapGet("/admin/x", (HttpContext http) => "admin " + http.Request.Scheme).RequireListener("Admin");
        app.MapGet("/admin/whoami", (HttpContext http) => http.Connection.ClientCertificate?.Subject ?? "none").RequireListener("Admin");
        await app.StartAsync();
        return app;
    }

    /// <summary>The subject of the certificate the server presents on a new connection (null when the request fails).</summary>
    private async Task<string?> ServerSubjectAsync(Uri url)
    {
        string? subject = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            subject = certificate?.Subject;
            return _tls.Ca.ValidateServer(certificate as X509Certificate2, errors);
        };
        using var client = new HttpClient(handler);
        return await Succeeds(() => client.GetAsync(url)) ? subject : null;
    }

    /// <summary>True when a new connection presenting <paramref name="clientCertificate"/> gets a 2xx answer.</summary>
    private async Task<bool> SucceedsWithAsync(Uri url, X509Certificate2 clientCertificate)
    {
        using var client = new HttpClient(Handler(clientCertificate));
        return await Succeeds(() => client.GetAsync(url));
    }

    /// <summary>Polls a condition (each try makes a new TLS connection) with a generous deadline.</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(50);
        }
    }

    /// <summary>A client that trusts only the test CA for the server and presents <paramref name="clientCertificate"/>.</summary>
    private SocketsHttpHandler Handler(X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            _tls.Ca.ValidateServer(certificate as X509Certificate2, errors);
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }

        return handler;
    }

    /// <summary>True when the request got any HTTP answer with status 2xx; false when the connection was refused or failed.</summary>
    private static async Task<bool> Succeeds(Func<Task<HttpResponseMessage>> send)
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

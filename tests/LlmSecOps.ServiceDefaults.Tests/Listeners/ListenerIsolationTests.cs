using System.Net;
using System.Net.Sockets;
using System.Text;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace LlmSecOps.ServiceDefaults.Tests.Listeners;

public sealed class ListenerIsolationTests : IAsyncLifetime
{
    private readonly int _dataPort = FreePort();
    private readonly int _adminPort = FreePort();
    private WebApplication _app = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["Listeners:Data:Port"] = _dataPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Configuration["Listeners:Admin:Port"] = _adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Configuration["KestrelLimits:MaxRequestBodySize"] = "1024";
        builder.AddServiceDefaults(
            new ListenerDefinition("Data", "127.0.0.1", 8080, IsManagement: false),
            new ListenerDefinition("Admin", "127.0.0.1", 8081, IsManagement: true));
        _app = builder.Build();
        _app.UseRouting();
        _app.UseListenerIsolation();
        _app.MapDefaultEndpoints();
        _app.MapGet("/admin/secret", () => "admin-only").RequireListener("Admin");
        _app.MapGet("/v1/data", () => "data").RequireListener("Data");
        _app.MapPost("/v1/upload", async (HttpRequest r) =>
        {
            using var reader = new StreamReader(r.Body);
            return (await reader.ReadToEndAsync()).Length;
        }).RequireListener("Data");
        _app.MapGet("/unbound", () => "no listener named");
        await _app.StartAsync();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task AdminRoutesAreNotFoundOnTheDataPortEvenWithASpoofedHostHeader()
    {
        var response = await RawGetAsync(_dataPort, "/admin/secret", host: $"localhost:{_adminPort}");
        Assert.StartsWith("HTTP/1.1 404", response);
        Assert.DoesNotContain("admin-only", response);

        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(_adminPort, "/admin/secret", host: "localhost"));
    }

    [Fact]
    public async Task DataRoutesAreNotFoundOnTheAdminPort()
    {
        Assert.StartsWith("HTTP/1.1 404", await RawGetAsync(_adminPort, "/v1/data", host: $"localhost:{_dataPort}"));
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(_dataPort, "/v1/data", host: "example.com"));
    }

    [Fact]
    public async Task HealthEndpointsLiveOnTheManagementListenerOnly()
    {
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(_adminPort, "/health/live"));
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(_adminPort, "/health/ready"));
        Assert.StartsWith("HTTP/1.1 404", await RawGetAsync(_dataPort, "/health/live"));
        Assert.StartsWith("HTTP/1.1 404", await RawGetAsync(_dataPort, "/health/ready"));
    }

    [Fact]
    public async Task EndpointsThatNameNoListenerAreUnreachable()
    {
        Assert.StartsWith("HTTP/1.1 404", await RawGetAsync(_dataPort, "/unbound"));
        Assert.StartsWith("HTTP/1.1 404", await RawGetAsync(_adminPort, "/unbound"));
    }

    [Fact]
    public async Task BodiesOverTheConfiguredLimitAreRefusedWith413()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_dataPort}") };
        var small = await client.PostAsync("/v1/upload", new StringContent(new string('a', 100)));
        var large = await client.PostAsync("/v1/upload", new StringContent(new string('a', 5000)));

        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
    }

    [Fact]
    public async Task TheServerHeaderIsNotSent()
    {
        using var client = new HttpClient();
        var response = await client.GetAsync(new Uri($"http://127.0.0.1:{_dataPort}/v1/data"));
        Assert.False(response.Headers.Contains("Server"));
    }

    [Fact]
    public void ListenersSharingAPortOrMisconfiguredFailAtStartWithEveryProblemListed()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["Listeners:Admin:Port"] = "9000";
        builder.Configuration["Listeners:Data:Port"] = "9000";
        builder.Configuration["Listeners:Data:Address"] = "not-an-ip";
        builder.Configuration["Listeners:Admin:RequireClientCertificate"] = "true";

        var error = Assert.Throws<OptionsValidationException>(() => builder.AddServiceDefaults(
            new ListenerDefinition("Data", "127.0.0.1", 8080, false),
            new ListenerDefinition("Admin", "127.0.0.1", 8081, true)));

        Assert.Contains(error.Failures, f => f.Contains("not-an-ip", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("CertificatePath", StringComparison.Ordinal));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RawGetAsync(int port, string path, string host = "localhost")
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadToEndAsync();
    }
}

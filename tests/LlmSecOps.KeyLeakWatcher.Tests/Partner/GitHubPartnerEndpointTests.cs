using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.KeyLeakWatcher.Partner;
using LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

namespace LlmSecOps.KeyLeakWatcher.Tests.Partner;

/// <summary>
/// The partner endpoint with signatures made by a test ECDSA P-256 key, published in GitHub's key-list format.
/// Report-only here (no control plane): these tests are about the protocol; revocation through the real control
/// plane is covered by the end-to-end tests.
/// </summary>
public sealed class GitHubPartnerEndpointTests : IDisposable
{
    private readonly ECDsa _github = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _attacker = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly TempFolder _temp = new();
    private readonly string _keyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public void Dispose()
    {
        _github.Dispose();
        _attacker.Dispose();
        _temp.Dispose();
    }

    internal static string KeysDocument(params (string Id, ECDsa Key)[] keys) => JsonSerializer.Serialize(new
    {
        public_keys = keys.Select(k => new { key_identifier = k.Id, key = k.Key.ExportSubjectPublicKeyInfoPem(), is_current = true }),
    });

    internal static HttpRequestMessage Signed(string body, string keyId, ECDsa signer, string? signatureOverride = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var signature = signatureOverride ?? Convert.ToBase64String(signer.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        var request = new HttpRequestMessage(HttpMethod.Post, GitHubPartnerEndpoint.Route) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        request.Headers.Add("Github-Public-Key-Identifier", keyId);
        request.Headers.Add("Github-Public-Key-Signature", signature);
        return request;
    }

    private async Task<WatcherHost> StartAsync()
    {
        var file = _temp.Write("github-keys.json", KeysDocument((_keyId, _github)));
        return await WatcherHost.StartAsync(new()
        {
            ["ControlPlane:ReportOnly"] = "true",
            ["GitHubPartner:PublicKeysFile"] = file,
        });
    }

    [Fact]
    public async Task ASignedAlertIsAnsweredWithATokenHashAndLabelPerToken()
    {
        await using var host = await StartAsync();
        var key = TestKeys.New();
        var lookAlike = TestKeys.BadChecksum();
        var body = JsonSerializer.Serialize(new[]
        {
            new { token = key, type = "llmsecops_api_key", url = "https://github.com/o/r/blob/abc/app.env", source = "content" },
            new { token = lookAlike, type = "llmsecops_api_key", url = "https://github.com/o/r/blob/abc/b.txt", source = "content" },
        });

        using var response = await host.Client.SendAsync(Signed(body, _keyId, _github));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var items = answer.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, items.Count);
        Assert.Equal(ApiKey.TokenHash(key), items[0].GetProperty("token_hash").GetString());
        Assert.Equal("llmsecops_api_key", items[0].GetProperty("token_type").GetString());
        Assert.Equal("true_positive", items[0].GetProperty("label").GetString());
        Assert.Equal(ApiKey.TokenHash(lookAlike), items[1].GetProperty("token_hash").GetString());
        Assert.Equal("false_positive", items[1].GetProperty("label").GetString());
    }

    [Fact]
    public async Task ATamperedBodyIsRejectedWith401AndNothingIsRecorded()
    {
        await using var host = await StartAsync();
        var body = JsonSerializer.Serialize(new[] { new { token = TestKeys.New(), type = "t", url = "u", source = "content" } });
        var signature = Convert.ToBase64String(_github.SignData(Encoding.UTF8.GetBytes(body), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        var tampered = body.Replace("\"u\"", "\"https://evil.example\"", StringComparison.Ordinal);

        using var response = await host.Client.SendAsync(Signed(tampered, _keyId, _github, signature));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await using var connection = new Npgsql.NpgsqlConnection(host.ConnectionString);
        await connection.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM watcher.findings", connection);
        Assert.Equal(0L, (long)(await count.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task SignaturesByAnotherKeyUnknownIdentifiersAndGarbageAreRejectedWith401()
    {
        await using var host = await StartAsync();
        var body = JsonSerializer.Serialize(new[] { new { token = TestKeys.New(), type = "t", url = "u", source = "content" } });

        using var otherKey = await host.Client.SendAsync(Signed(body, _keyId, _attacker));
        using var unknownId = await host.Client.SendAsync(Signed(body, "not-a-github-key", _github));
        using var garbage = await host.Client.SendAsync(Signed(body, _keyId, _github, "bm90IGEgc2lnbmF0dXJl"));
        using var notBase64 = await host.Client.SendAsync(Signed(body, _keyId, _github, "%%%"));
        using var unsigned = await host.Client.PostAsync(GitHubPartnerEndpoint.Route, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.All([otherKey, unknownId, garbage, notBase64, unsigned], r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
    }

    [Fact]
    public async Task ASignedBodyThatIsNotAnAlertArrayGets400()
    {
        await using var host = await StartAsync();

        using var notArray = await host.Client.SendAsync(Signed("{\"token\":\"x\"}", _keyId, _github));
        using var noToken = await host.Client.SendAsync(Signed("[{\"type\":\"x\"}]", _keyId, _github));

        Assert.Equal(HttpStatusCode.BadRequest, notArray.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);
    }

    [Fact]
    public async Task KeysAreFetchedFromTheConfiguredUrlCachedAndRefreshedWhenGitHubRotates()
    {
        var rotated = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rotatedId = "rotated-" + Guid.NewGuid().ToString("N");
        var document = KeysDocument((_keyId, _github));
        var fetches = 0;
        using var listener = new HttpListener();
        var port = LlmSecOps.Testing.FreePort.Get();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception)
                {
                    return;
                }

                Interlocked.Increment(ref fetches);
                var bytes = Encoding.UTF8.GetBytes(Volatile.Read(ref document));
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        });
        await using var host = await WatcherHost.StartAsync(new()
        {
            ["ControlPlane:ReportOnly"] = "true",
            ["GitHubPartner:PublicKeysUrl"] = $"http://127.0.0.1:{port}/meta/public_keys/secret_scanning",
            ["GitHubPartner:MinRefreshInterval"] = "00:00:00",
        });
        var body = JsonSerializer.Serialize(new[] { new { token = TestKeys.New(), type = "t", url = "u", source = "content" } });

        using var first = await host.Client.SendAsync(Signed(body, _keyId, _github));
        using var second = await host.Client.SendAsync(Signed(body, _keyId, _github));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, Volatile.Read(ref fetches));

        Volatile.Write(ref document, KeysDocument((_keyId, _github), (rotatedId, rotated)));
        using var afterRotation = await host.Client.SendAsync(Signed(body, rotatedId, rotated));
        Assert.Equal(HttpStatusCode.OK, afterRotation.StatusCode);
        Assert.Equal(2, Volatile.Read(ref fetches));
        rotated.Dispose();
    }

    [Fact]
    public async Task HealthIsServedOnTheWatcherListener()
    {
        await using var host = await StartAsync();

        using var health = await host.Client.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}

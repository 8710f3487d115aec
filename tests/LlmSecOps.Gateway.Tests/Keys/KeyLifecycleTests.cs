using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.Keys;

public sealed class KeyLifecycleTests
{
    [Fact]
    public void TheArchitectureTestVectorVerifies()
    {
        Assert.True(ApiKey.TryParse("lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz", out var parts));
        Assert.Equal(KeyEnvironment.Live, parts.Environment);
        Assert.False(ApiKey.IsValid("lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmy"));
    }

    [Fact]
    public async Task IssuedKeyIsInTheFixedFormatWorksAndIsNeverShownAgain()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant, new { name = "ci", env = "test", scopes = new[] { "chat", "models" } });
        Assert.True(ApiKey.TryParse(key, out var parts));
        Assert.Equal(KeyEnvironment.Test, parts.Environment);
        Assert.Equal(id, parts.IdString(key));

        using var admin = host.Admin();
        var get = await (await admin.GetAsync($"/admin/keys/{id}")).ReadAsync();
        Assert.False(get.TryGetProperty("key", out _));
        Assert.Equal("test", get.Str("env"));
        Assert.Equal(["chat", "models"], get.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("active", get.Str("status"));
        var list = await admin.GetStringAsync($"/admin/tenants/{tenant}/keys");
        Assert.DoesNotContain(key[22..], list, StringComparison.Ordinal);
        Assert.Contains(id, list, StringComparison.Ordinal);

        using var data = host.Data(key);
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task StoredHashIsTheHmacOfTheSha256UnderTheVersionedPepper()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant);
        await using var connection = new NpgsqlConnection(host.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT key_hash, pepper_version FROM gateway.keys WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(host.Pepper), SHA256.HashData(Encoding.ASCII.GetBytes(key)));
        Assert.Equal(expected, (byte[])reader[0]);
        Assert.Equal(1, reader.GetInt32(1));
    }

    [Fact]
    public async Task BadIssueRequestListsEveryProblemAndCreatesNothing()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        using var admin = host.Admin();
        var response = await admin.PostAsJsonAsync($"/admin/tenants/{tenant}/keys",
            new { env = "prod", scopes = new[] { "chat", "bogus" }, expiresAt = DateTimeOffset.UtcNow.AddDays(-1) });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = (await response.ReadAsync()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("env", out _));
        Assert.True(errors.TryGetProperty("scopes[1]", out _));
        Assert.True(errors.TryGetProperty("expiresAt", out _));
        Assert.Equal(0, (await (await admin.GetAsync($"/admin/tenants/{tenant}/keys")).ReadAsync()).GetArrayLength());

        var typo = await admin.PostAsync($"/admin/tenants/{tenant}/keys", new StringContent("""{"nmae":"x"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, typo.StatusCode);
        var broken = await admin.PostAsync($"/admin/tenants/{tenant}/keys", new StringContent("""{"name":""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
    }

    [Fact]
    public async Task UnknownIdsAre404()
    {
        await using var host = await GatewayHost.StartAsync();
        using var admin = host.Admin();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/keys/000000000000")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/keys/not-a-key-id")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tenants/ten_nothing")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tenants/ten_nothing/keys")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync("/admin/tenants/ten_nothing/keys", new { })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync("/admin/keys/000000000000/revoke", new { reason = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsJsonAsync("/admin/keys/000000000000/rotate", new { graceSeconds = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/admin/keys/000000000000/reinstate", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/incidents/inc_nothing")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tiers/nothing")).StatusCode);
    }

    [Fact]
    public async Task ScopesAndExpiryAreEnforced()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (_, chatOnly) = await host.IssueKeyAsync(tenant, new { scopes = new[] { "chat" } });
        using (var data = host.Data(chatOnly))
        {
            var response = await data.GetAsync("/v1/models");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("scope_not_allowed", (await response.ReadAsync()).GetProperty("error").Str("code"));
        }

        var (_, shortLived) = await host.IssueKeyAsync(tenant, new { expiresAt = DateTimeOffset.UtcNow.AddSeconds(2) });
        using var data2 = host.Data(shortLived);
        Assert.Equal(HttpStatusCode.OK, (await data2.GetAsync("/v1/models")).StatusCode);
        await Task.Delay(2500);
        var expired = await data2.GetAsync("/api/tags");
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Equal("This API key has expired.", (await expired.ReadAsync()).Str("error"));
    }

    [Fact]
    public async Task RotationIssuesANewKeyAndTheOldOneWorksOnlyUntilTheGraceEnds()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (oldId, oldKey) = await host.IssueKeyAsync(tenant, new { name = "svc", scopes = new[] { "models", "chat" } });
        using var admin = host.Admin();
        var rotated = await admin.PostAsJsonAsync($"/admin/keys/{oldId}/rotate", new { graceSeconds = 2 });
        Assert.Equal(HttpStatusCode.Created, rotated.StatusCode);
        var body = await rotated.ReadAsync();
        var newKey = body.Str("key");
        Assert.Equal(oldId, body.Str("rotatedFrom"));
        Assert.Equal(["models", "chat"], body.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.NotEqual(oldId, body.Str("id"));

        using var oldClient = host.Data(oldKey);
        using var newClient = host.Data(newKey);
        Assert.Equal(HttpStatusCode.OK, (await oldClient.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await newClient.GetAsync("/v1/models")).StatusCode);
        await Task.Delay(2500);
        Assert.Equal(HttpStatusCode.Unauthorized, (await oldClient.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await newClient.GetAsync("/v1/models")).StatusCode);
        Assert.Equal(body.Str("id"), (await (await admin.GetAsync($"/admin/keys/{oldId}")).ReadAsync()).Str("rotatedTo"));

        var bad = await admin.PostAsJsonAsync($"/admin/keys/{body.Str("id")}/rotate", new { graceSeconds = -5 });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task RevokeIsIdempotentRecordsWhoWhyAndEvidenceAndOpensOneIncident()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant);
        var service = await host.IssueTokenAsync("service", "leak-watcher");
        using var watcher = host.Admin(service);
        using var data = host.Data(key);
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);

        var evidence = new { where = "github.com/acme/app@abc123!config.env:12" };
        var first = await watcher.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "found in a public repo", source = "leak", evidence });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var state = await first.ReadAsync();
        Assert.Equal("revoked", state.Str("status"));
        var revocation = state.GetProperty("revocation");
        Assert.Equal("found in a public repo", revocation.Str("reason"));
        Assert.Equal("leak", revocation.Str("source"));
        Assert.Contains("leak-watcher", revocation.Str("revokedBy"), StringComparison.Ordinal);
        Assert.Equal(evidence.where, revocation.GetProperty("evidence").Str("where"));
        Assert.StartsWith("inc_", state.Str("incidentId"), StringComparison.Ordinal);

        var second = await watcher.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "again", source = "leak", evidence });
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var again = await second.ReadAsync();
        Assert.Equal(revocation.Str("revokedAt"), again.GetProperty("revocation").Str("revokedAt"));
        Assert.Equal("found in a public repo", again.GetProperty("revocation").Str("reason"));

        using var admin = host.Admin();
        var incidents = await (await admin.GetAsync($"/admin/incidents?keyId={id}")).ReadAsync();
        Assert.Equal(1, incidents.GetArrayLength());
        Assert.Equal("leak", incidents[0].Str("source"));
        Assert.Equal("open", incidents[0].Str("status"));

        var refused = await data.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var error = (await refused.ReadAsync()).GetProperty("error");
        Assert.Equal("invalid_api_key", error.Str("code"));
        Assert.Equal("invalid_request_error", error.Str("type"));
    }

    [Fact]
    public async Task OnlyAdminsReinstateAndAReinstatedKeyWorksAgain()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant);
        using var admin = host.Admin();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "test" })).StatusCode);
        using var data = host.Data(key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await data.GetAsync("/v1/models")).StatusCode);

        using var operatorClient = host.Admin(await host.IssueTokenAsync("operator"));
        Assert.Equal(HttpStatusCode.Forbidden, (await operatorClient.PostAsync($"/admin/keys/{id}/reinstate", null)).StatusCode);
        var reinstated = await admin.PostAsync($"/admin/keys/{id}/reinstate", null);
        Assert.Equal(HttpStatusCode.OK, reinstated.StatusCode);
        Assert.Equal("active", (await reinstated.ReadAsync()).Str("status"));
        Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task LookupByTokenHashFindsTheKeyWithoutEverSeeingIt()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant);
        using var service = host.Admin(await host.IssueTokenAsync("service"));
        var found = await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = ApiKey.TokenHash(key) });
        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        var body = await found.ReadAsync();
        Assert.Equal(id, body.Str("id"));
        Assert.Equal(tenant, body.Str("tenantId"));
        Assert.Equal("active", body.Str("status"));

        var unknown = await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = ApiKey.TokenHash(ApiKey.Create()) });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var bad = await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = "xyz" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task KeysSurviveAPepperRotationAndNewKeysUseTheNewVersion()
    {
        var database = await LlmSecOps.Testing.TestServers.NewDatabaseAsync();
        var pepper1 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string oldKey;
        await using (var first = await GatewayHost.StartAsync(database, pepper: pepper1))
        {
            var tenant = await first.CreateTenantAsync();
            (_, oldKey) = await first.IssueKeyAsync(tenant);
        }

        var pepper2 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await using var second = await GatewayHost.StartAsync(database, settings: new Dictionary<string, string?>
        {
            ["Keys:Pepper"] = null,
            ["Keys:Peppers:1"] = pepper1,
            ["Keys:Peppers:2"] = pepper2,
            ["Keys:CurrentPepperVersion"] = "2",
        });
        using (var data = second.Data(oldKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
        }

        using var admin = second.Admin();
        var tenants = await (await admin.GetAsync("/admin/tenants")).ReadAsync();
        var (newId, newKey) = await second.IssueKeyAsync(tenants[0].Str("id"));
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pepper_version FROM gateway.keys WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", newId);
        Assert.Equal(2, (int)(await command.ExecuteScalarAsync())!);
        using var service = second.Admin(await second.IssueTokenAsync("service"));
        Assert.Equal(HttpStatusCode.OK, (await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = ApiKey.TokenHash(oldKey) })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = ApiKey.TokenHash(newKey) })).StatusCode);
    }

    [Fact]
    public async Task DataPlaneAnswers401InEachApisOwnFormatForEveryKindOfBadCredential()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (_, key) = await host.IssueKeyAsync(tenant);
        var badChecksum = key[..^1] + (key[^1] == 'a' ? 'b' : 'a');
        var wrongSecret = ApiKey.Create(KeyEnvironment.Live, key.Substring(9, 12));
        foreach (var credential in new string?[] { null, "nonsense", badChecksum, wrongSecret, ApiKey.Create() })
        {
            using var client = host.Data(credential);
            var openai = await client.GetAsync("/v1/models");
            Assert.Equal(HttpStatusCode.Unauthorized, openai.StatusCode);
            var error = (await openai.ReadAsync()).GetProperty("error");
            Assert.False(string.IsNullOrEmpty(error.Str("message")));
            Assert.Equal("invalid_api_key", error.Str("code"));

            var ollama = await client.GetAsync("/api/tags");
            Assert.Equal(HttpStatusCode.Unauthorized, ollama.StatusCode);
            Assert.Equal(JsonValueKind.String, (await ollama.ReadAsync()).GetProperty("error").ValueKind);
        }

        using var viaHeader = new HttpClient { BaseAddress = new Uri(host.DataUrl) };
        viaHeader.DefaultRequestHeaders.Add("x-api-key", key);
        Assert.Equal(HttpStatusCode.OK, (await viaHeader.GetAsync("/api/tags")).StatusCode);
    }
}

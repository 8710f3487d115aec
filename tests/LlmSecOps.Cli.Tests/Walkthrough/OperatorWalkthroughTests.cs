using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.Cli.Tests.Walkthrough;

/// <summary>The CLI against the real gateway: every test makes its own tenant and keys on one shared gateway.</summary>
public sealed partial class OperatorWalkthroughTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task AnOperatorCreatesATenantIssuesAKeyListsItRevokesItAndTheAuditChainVerifies()
    {
        var create = await gateway.CliAsync("tenants", "create", "--name", "walkthrough", "--tier", "default");
        Assert.True(create.ExitCode == 0, create.ToString());
        Assert.Contains("Tenant created", create.Stdout);
        var tenantId = TenantId().Match(create.Stdout).Value;
        Assert.StartsWith("ten_", tenantId);

        var issue = await gateway.CliAsync("keys", "issue", tenantId, "--name", "billing-app", "--scopes", "chat,models");
        Assert.True(issue.ExitCode == 0, issue.ToString());
        var keys = KeyPattern().Matches(issue.Stdout);
        Assert.Single(keys);                                   // the secret is printed exactly once...
        Assert.Contains("shown ONCE", issue.Stdout);           // ...under a label that says so
        var key = keys[0].Value;
        Assert.True(ApiKey.TryParse(key, out _));
        var keyId = key.Split('_')[2];
        Assert.Contains("billing-app", issue.Stdout);
        Assert.Contains("chat, models", issue.Stdout);

        // The key works on the data plane.
        Assert.Equal(HttpStatusCode.OK, await CallDataPlaneAsync(key));

        var list = await gateway.CliAsync("keys", "list", tenantId);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains(keyId, list.Stdout);
        Assert.Contains("active", list.Stdout);
        Assert.DoesNotContain(key, list.All);
        Assert.DoesNotContain("lso_", list.All);

        var revoke = await gateway.CliAsync("keys", "revoke", keyId, "--reason", "walkthrough: key pasted in a ticket");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Contains("Key revoked", revoke.Stdout);
        Assert.Contains("walkthrough: key pasted in a ticket", revoke.Stdout);

        // The data plane refuses it at once, and a second revoke is harmless.
        Assert.Equal(HttpStatusCode.Unauthorized, await CallDataPlaneAsync(key));
        Assert.Equal(0, (await gateway.CliAsync("keys", "revoke", keyId, "--reason", "again")).ExitCode);
        Assert.Equal("revoked", (await gateway.CliJsonAsync("keys", "get", keyId)).GetProperty("status").GetString());

        var verify = await gateway.CliAsync("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("The audit chain is intact.", verify.Stdout);
    }

    [Fact]
    public async Task WithJsonTheIssuedKeyIsInTheJsonAndNowhereElse()
    {
        var tenantId = await gateway.CreateTenantAsync("json-issue");
        var result = await gateway.CliAsync("--json", "keys", "issue", tenantId, "--env", "test", "--expires", "30d");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var document = JsonDocument.Parse(result.Stdout);
        var key = document.RootElement.GetProperty("key").GetString()!;
        Assert.StartsWith("lso_test_", key);
        Assert.True(ApiKey.IsValid(key));
        Assert.Single(KeyPattern().Matches(result.Stdout));
        Assert.Equal("", result.Stderr);
        var expires = document.RootElement.GetProperty("expiresAt").GetDateTime();
        Assert.InRange(expires, DateTime.UtcNow.AddDays(29), DateTime.UtcNow.AddDays(31));
    }

    [Fact]
    public async Task RotatingPrintsTheReplacementOnceAndLinksTheTwoKeys()
    {
        var tenantId = await gateway.CreateTenantAsync("rotation");
        var old = await gateway.CliJsonAsync("keys", "issue", tenantId);
        var oldId = old.GetProperty("id").GetString()!;

        var rotate = await gateway.CliAsync("keys", "rotate", oldId, "--grace", "3600");
        Assert.True(rotate.ExitCode == 0, rotate.ToString());
        var replacement = Assert.Single(KeyPattern().Matches(rotate.Stdout)).Value;
        Assert.NotEqual(old.GetProperty("key").GetString(), replacement);
        var newId = replacement.Split('_')[2];

        Assert.Equal(newId, (await gateway.CliJsonAsync("keys", "get", oldId)).GetProperty("rotatedTo").GetString());
        Assert.Equal(HttpStatusCode.OK, await CallDataPlaneAsync(replacement));
        Assert.Equal(HttpStatusCode.OK, await CallDataPlaneAsync(old.GetProperty("key").GetString()!));   // grace period
    }

    [Fact]
    public async Task AWrongTokenExitsWith4AndIsNeverEchoed()
    {
        const string wrong = "lsoadm_this-token-does-not-exist-0123456789abcdef";
        var result = await gateway.CliAsTokenAsync(wrong, "tenants", "list");
        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("401", result.Stderr);
        Assert.Contains("did not accept the token", result.Stderr);
        Assert.DoesNotContain(wrong, result.All);
        Assert.DoesNotContain(gateway.BootstrapToken, result.All);
    }

    [Fact]
    public async Task AnIssuedAuditorTokenCanReadButNotWriteAndTheRefusalExitsWith4()
    {
        var issue = await gateway.CliAsync("tokens", "issue", "--role", "auditor", "--name", "compliance-team");
        Assert.True(issue.ExitCode == 0, issue.ToString());
        var lines = issue.Stdout.Split('\n', StringSplitOptions.TrimEntries);
        var labelLine = Array.FindIndex(lines, l => l.StartsWith("Admin API token (shown ONCE", StringComparison.Ordinal));
        Assert.True(labelLine >= 0, issue.Stdout);
        var token = lines[labelLine + 1];
        Assert.StartsWith("lsoadm_", token);
        Assert.Single(Regex.Matches(issue.Stdout, Regex.Escape(token)));

        var read = await gateway.CliAsTokenAsync(token, "tenants", "list");
        Assert.True(read.ExitCode == 0, read.ToString());

        var write = await gateway.CliAsTokenAsync(token, "tenants", "create", "--name", "nope");
        Assert.True(write.ExitCode == 4, write.ToString());
        Assert.Contains("403", write.Stderr);
        Assert.Contains("Role 'auditor' may not use this route", write.Stderr);
        Assert.DoesNotContain(token, write.All);
    }

    [Fact]
    public async Task ValidationProblemsAreListedFieldByFieldWithExitCode1AndNothingIsCreated()
    {
        var tenantId = await gateway.CreateTenantAsync("validation");
        var result = await gateway.CliAsync("keys", "issue", tenantId, "--scopes", "chat,admin", "--expires", "2001-01-01");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: 400 The request is invalid.", result.Stderr);
        Assert.Contains("  - scopes[1]: 'admin' is not a scope", result.Stderr);
        Assert.Contains("  - expiresAt: Must be in the future.", result.Stderr);
        Assert.Equal("", result.Stdout);

        var keys = await gateway.CliJsonAsync("keys", "list", tenantId);
        Assert.Equal(0, keys.GetArrayLength());
    }

    [Fact]
    public async Task AnUnknownIdIsA404WithExitCode1()
    {
        var result = await gateway.CliAsync("keys", "get", "AAAAAAAAAAAA");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("error: 404 Key not found.", result.Stderr);
        Assert.Contains("No key has id 'AAAAAAAAAAAA'.", result.Stderr);
    }

    [Fact]
    public async Task ARevocationWithASourceOpensAnIncidentThatIncidentsListShows()
    {
        var tenantId = await gateway.CreateTenantAsync("incident");
        var keyId = (await gateway.CliJsonAsync("keys", "issue", tenantId)).GetProperty("id").GetString()!;
        var revoke = await gateway.CliAsync("keys", "revoke", keyId, "--reason", "found in a public repo", "--source", "leak",
            "--evidence", """{"url":"https://example.com/repo/commit/abc","path":".env:3"}""");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());

        var list = await gateway.CliAsync("incidents", "list", "--key", keyId);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("leak", list.Stdout);
        Assert.Contains("open", list.Stdout);
        Assert.Contains("1 row(s)", list.Stdout);

        var incidents = await gateway.CliJsonAsync("incidents", "list", "--key", keyId, "--source", "leak");
        var incident = Assert.Single(incidents.EnumerateArray());
        Assert.Equal(".env:3", incident.GetProperty("evidence").GetProperty("path").GetString());
        Assert.Equal(0, (await gateway.CliJsonAsync("incidents", "list", "--key", keyId, "--status", "resolved")).GetArrayLength());
    }

    [Fact]
    public async Task BudgetsSetOnePeriodAtATimeKeepTheOther()
    {
        var tenantId = await gateway.CreateTenantAsync("budget");
        Assert.Equal(0, (await gateway.CliAsync("tenants", "budget", "set", tenantId, "--daily", "1000")).ExitCode);
        var result = await gateway.CliAsync("tenants", "budget", "set", tenantId, "--monthly", "50000");
        Assert.True(result.ExitCode == 0, result.ToString());
        var budget = (await gateway.CliJsonAsync("tenants", "get", tenantId)).GetProperty("budget");
        Assert.Equal(1000, budget.GetProperty("dailyTokens").GetInt64());
        Assert.Equal(50000, budget.GetProperty("monthlyTokens").GetInt64());

        Assert.Equal(0, (await gateway.CliAsync("tenants", "budget", "set", tenantId, "--daily", "none")).ExitCode);
        budget = (await gateway.CliJsonAsync("tenants", "get", tenantId)).GetProperty("budget");
        Assert.Equal(JsonValueKind.Null, budget.GetProperty("dailyTokens").ValueKind);
        Assert.Equal(50000, budget.GetProperty("monthlyTokens").GetInt64());
    }

    [Fact]
    public async Task ASuspendedTenantsKeysAreRefusedUntilItIsResumed()
    {
        var tenantId = await gateway.CreateTenantAsync("suspension");
        var key = (await gateway.CliJsonAsync("keys", "issue", tenantId)).GetProperty("key").GetString()!;
        var suspend = await gateway.CliAsync("tenants", "suspend", tenantId);
        Assert.True(suspend.ExitCode == 0, suspend.ToString());
        Assert.Contains("suspended", suspend.Stdout);
        Assert.Equal(HttpStatusCode.Forbidden, await CallDataPlaneAsync(key));
        Assert.Equal(0, (await gateway.CliAsync("tenants", "resume", tenantId)).ExitCode);
        Assert.Equal(HttpStatusCode.OK, await CallDataPlaneAsync(key));
    }

    [Fact]
    public async Task TiersAndApprovedModelsAreSetAndListed()
    {
        var tier = "cli-" + Guid.NewGuid().ToString("N")[..8];
        var set = await gateway.CliAsync("tiers", "set", tier, "--models", "llama3.2:3b", "--default-max-tokens", "256", "--max-tokens", "1024",
            "--rpm", "30", "--tpm", "10000", "--concurrency", "2");
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Contains("llama3.2:3b", set.Stdout);

        var digest = "sha256:" + new string('a', 64);
        var approve = await gateway.CliAsync("models", "approve", "llama3.2:3b", "--digest", digest);
        Assert.True(approve.ExitCode == 0, approve.ToString());
        Assert.Contains(digest, (await gateway.CliAsync("models", "list")).Stdout);

        // A tenant on the new tier sees the approved model through its key.
        var tenantId = await gateway.CreateTenantAsync("tiered", tier);
        var key = (await gateway.CliJsonAsync("keys", "issue", tenantId)).GetProperty("key").GetString()!;
        using var data = new HttpClient { BaseAddress = new Uri(gateway.DataUrl) };
        data.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Contains("llama3.2:3b", await data.GetStringAsync("/v1/models"));

        var bad = await gateway.CliAsync("models", "approve", "llama3.2:3b", "--digest", "md5:abc");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("  - digest:", bad.Stderr);
    }

    [Fact]
    public async Task UsageShowsSettledTokensAndRefusalsPerKey()
    {
        var tenantId = await gateway.CreateTenantAsync("usage");
        var keyId = (await gateway.CliJsonAsync("keys", "issue", tenantId)).GetProperty("id").GetString()!;
        var store = gateway.Services.GetRequiredService<UsageStore>();
        var at = DateTime.UtcNow.AddMinutes(-5);
        await store.SettleManyAsync(
        [
            new UsageRecord(Guid.NewGuid().ToString("N"), at, tenantId, keyId, "POST /v1/chat/completions", "llama3.2:3b:latest", "ok", 1200, 3400),
            new UsageRecord(Guid.NewGuid().ToString("N"), at, tenantId, keyId, "POST /v1/chat/completions", "llama3.2:3b:latest", "ok", 800, 600),
            new UsageRecord(Guid.NewGuid().ToString("N"), at, tenantId, keyId, "POST /v1/chat/completions", "llama3.2:3b:latest", "budget_exhausted", 0, 0),
        ], CancellationToken.None);

        var from = DateTime.UtcNow.AddHours(-1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var result = await gateway.CliAsync("usage", "--tenant", tenantId, "--from", from);
        Assert.True(result.ExitCode == 0, result.ToString());
        var keyRow = result.Stdout.Split('\n').Single(l => l.Contains(keyId, StringComparison.Ordinal));
        Assert.Matches(@"│\s*3\s*│\s*2,000\s*│\s*4,000\s*│\s*6,000\s*│\s*budget_exhausted: 1\s*│", keyRow);
        Assert.Contains("TOTAL", result.Stdout);

        var json = await gateway.CliJsonAsync("usage", "--tenant", tenantId, "--from", from);
        Assert.Equal(6000, json.GetProperty("totals").GetProperty("totalTokens").GetInt64());

        var bad = await gateway.CliAsync("usage", "--tenant", tenantId, "--from", "2026-11-02", "--to", "2026-11-01");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("  - to: Must be after 'from'.", bad.Stderr);
    }

    [Fact]
    public async Task AKeyPipedToLookupIsHashedLocallyFoundAndAnAdminCanReinstateItAfterRevocation()
    {
        var tenantId = await gateway.CreateTenantAsync("lookup");
        var issued = await gateway.CliJsonAsync("keys", "issue", tenantId);
        var key = issued.GetProperty("key").GetString()!;
        var keyId = issued.GetProperty("id").GetString()!;
        Assert.Equal(0, (await gateway.CliAsync("keys", "revoke", keyId, "--reason", "suspected")).ExitCode);

        var lookup = await CliRunner.RunWithAsync(gateway.OperatorEnvironment(), key + "\n", "--json", "keys", "lookup", "--key-stdin");
        Assert.True(lookup.ExitCode == 0, lookup.ToString());
        Assert.DoesNotContain(key, lookup.All);
        using (var document = JsonDocument.Parse(lookup.Stdout))
        {
            Assert.Equal(keyId, document.RootElement.GetProperty("id").GetString());
            Assert.Equal("revoked", document.RootElement.GetProperty("status").GetString());
        }

        Assert.Equal(0, (await gateway.CliAsync("keys", "lookup", ApiKey.TokenHash(key))).ExitCode);

        var reinstate = await gateway.CliAsync("keys", "reinstate", keyId);
        Assert.True(reinstate.ExitCode == 0, reinstate.ToString());
        Assert.Contains("Key reinstated", reinstate.Stdout);
        Assert.Equal(HttpStatusCode.OK, await CallDataPlaneAsync(key));
    }

    [Fact]
    public async Task ARevokedAdminTokenStopsWorkingForTheCli()
    {
        var issued = await gateway.CliJsonAsync("tokens", "issue", "--role", "operator", "--name", "temp-operator");
        var token = issued.GetProperty("token").GetString()!;
        Assert.Equal(0, (await gateway.CliAsTokenAsync(token, "tenants", "list")).ExitCode);

        var revoke = await gateway.CliAsync("tokens", "revoke", issued.GetProperty("id").GetString()!);
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Equal(4, (await gateway.CliAsTokenAsync(token, "tenants", "list")).ExitCode);
    }

    [Fact]
    public async Task SettingAWebhookPrintsItsSigningSecretOnceAndTheTenantNeverShowsIt()
    {
        var tenantId = await gateway.CreateTenantAsync("webhook");
        var set = await gateway.CliAsync("tenants", "policy", "set", tenantId, "--webhook", "http://127.0.0.1:9/llmsecops", "--guard", "block");
        Assert.True(set.ExitCode == 0, set.ToString());
        var lines = set.Stdout.Split('\n', StringSplitOptions.TrimEntries);
        var label = Array.FindIndex(lines, l => l.StartsWith("Webhook signing secret (shown ONCE", StringComparison.Ordinal));
        Assert.True(label >= 0, set.Stdout);
        var secret = lines[label + 1];
        Assert.True(secret.Length >= 16, set.Stdout);
        Assert.Single(Regex.Matches(set.Stdout, Regex.Escape(secret)));
        Assert.Contains("http://127.0.0.1:9/llmsecops", set.Stdout);

        var tenant = await gateway.CliAsync("--json", "tenants", "get", tenantId);
        Assert.Equal(0, tenant.ExitCode);
        Assert.Contains("\"guardPolicy\": \"block\"", tenant.Stdout);
        Assert.DoesNotContain(secret, tenant.Stdout);
    }

    private async Task<HttpStatusCode> CallDataPlaneAsync(string key)
    {
        using var data = new HttpClient { BaseAddress = new Uri(gateway.DataUrl) };
        data.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await data.GetAsync("/v1/models");
        return response.StatusCode;
    }

    [GeneratedRegex(ApiKey.Pattern)]
    private static partial Regex KeyPattern();

    [GeneratedRegex(@"ten_[0-9A-Za-z]+")]
    private static partial Regex TenantId();
}

using System.Net;
using System.Text;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Tests.Infrastructure;
using Xunit.Abstractions;

namespace LlmSecOps.Gateway.Tests.Admin;

public sealed class RoleTableTests(ITestOutputHelper output)
{
    /// <summary>ARCHITECTURE.md's table, as written there (plus the read/extra routes this gateway adds, marked).</summary>
    private static readonly (string Method, string Path, string Roles, string? Body)[] Table =
    [
        ("POST", "/admin/tenants", "operator", """{"name":"x"}"""),
        ("GET", "/admin/tenants/{t}", "auditor", null),
        ("POST", "/admin/tenants/{t}/suspend", "operator", null),
        ("POST", "/admin/tenants/{t}/resume", "operator", null),
        ("PUT", "/admin/tenants/{t}/policy", "operator", """{"retentionDays":7}"""),
        ("PUT", "/admin/tenants/{t}/budget", "operator", """{"dailyTokens":1000,"monthlyTokens":5000}"""),
        ("PUT", "/admin/keys/{k}/budget", "operator", """{"dailyTokens":10}"""),
        ("DELETE", "/admin/tenants/{t}/records", "admin", null),
        ("POST", "/admin/tenants/{t}/keys", "operator", """{"name":"n"}"""),
        ("GET", "/admin/tenants/{t}/keys", "auditor", null),
        ("GET", "/admin/keys/{k}", "auditor", null),
        ("POST", "/admin/keys/{k}/rotate", "operator", """{"graceSeconds":60}"""),
        ("POST", "/admin/keys/{k}/revoke", "operator,service", """{"reason":"role test"}"""),
        ("POST", "/admin/keys/{k}/reinstate", "admin", null),
        ("POST", "/admin/keys/lookup", "service,admin", """{"tokenHash":"{h}"}"""),
        ("PUT", "/admin/tiers/gold", "operator", """{"allowedModels":["*"],"defaultMaxTokens":100,"maxMaxTokens":200,"requestsPerMinute":10,"tokensPerMinute":1000,"concurrency":2}"""),
        ("PUT", "/admin/models/llama3.2:1b", "operator", """{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001"}"""),
        ("POST", "/admin/incidents", "service", """{"source":"manual","summary":"s","tenantId":"{t}"}"""),
        ("GET", "/admin/incidents", "auditor", null),
        ("GET", "/admin/usage", "auditor", null),
        ("POST", "/admin/tokens", "admin", """{"role":"auditor","name":"x"}"""),
        ("GET", "/admin/audit/verify", "auditor", null),
        // Routes this gateway adds beyond the table.
        ("GET", "/admin/tenants", "auditor", null),
        ("GET", "/admin/tiers", "auditor", null),
        ("GET", "/admin/tiers/default", "auditor", null),
        ("GET", "/admin/models", "auditor", null),
        ("DELETE", "/admin/models/{m}", "operator", null),
        ("GET", "/admin/incidents/{i}", "auditor", null),
        ("POST", "/admin/incidents/{i}/acknowledge", "operator", null),
        ("POST", "/admin/incidents/{i}/resolve", "operator", null),
        ("GET", "/admin/tokens", "admin", null),
        ("DELETE", "/admin/tokens/{tok}", "admin", null),
    ];

    private static readonly string[] Roles = ["admin", "operator", "auditor", "service"];

    /// <summary>admin ⊃ operator ⊃ auditor; service is separate.</summary>
    private static bool Allowed(string role, string listed) => listed.Split(',').Any(l => l == role
        || (l == "operator" && role == "admin")
        || (l == "auditor" && role is "admin" or "operator"));

    [Fact]
    public async Task EachRoleCanDoExactlyWhatTheRouteTableSays()
    {
        await using var host = await GatewayHost.StartAsync();
        var tokens = new Dictionary<string, string>();
        foreach (var role in Roles)
        {
            tokens[role] = await host.IssueTokenAsync(role, role + "-bot");
        }

        var failures = new List<string>();
        foreach (var (method, pathTemplate, listed, bodyTemplate) in Table)
        {
            foreach (var role in Roles)
            {
                // Fresh objects per call so one role's allowed call (a revoke, a suspend) cannot change what the next sees.
                var tenant = await host.CreateTenantAsync();
                var (keyId, key) = await host.IssueKeyAsync(tenant);
                var incident = await OpenIncidentAsync(host, tenant);
                var model = await ApproveModelAsync(host);
                var tokenId = await TokenIdAsync(host);
                string Fill(string s) => s.Replace("{t}", tenant).Replace("{k}", keyId).Replace("{i}", incident).Replace("{h}", ApiKey.TokenHash(key))
                    .Replace("{m}", model).Replace("{tok}", tokenId);

                using var client = host.Admin(tokens[role]);
                using var request = new HttpRequestMessage(new HttpMethod(method), Fill(pathTemplate));
                if (bodyTemplate is not null)
                {
                    request.Content = new StringContent(Fill(bodyTemplate), Encoding.UTF8, "application/json");
                }

                var response = await client.SendAsync(request);
                var status = (int)response.StatusCode;
                var expectAllowed = Allowed(role, listed);
                var ok = expectAllowed ? status is >= 200 and < 300 : status == 403;
                output.WriteLine($"{role,-8} {method,-6} {pathTemplate,-40} -> {status} ({(expectAllowed ? "allowed" : "denied")})");
                if (!ok)
                {
                    failures.Add($"{role} {method} {pathTemplate}: expected {(expectAllowed ? "2xx" : "403")}, got {status}: {await response.Content.ReadAsStringAsync()}");
                }
            }

            // Without a token every route is 401.
            using var anonymous = new HttpClient { BaseAddress = new Uri(host.AdminUrl) };
            var anon = await anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), pathTemplate.Replace("{t}", "ten_x").Replace("{k}", "000000000000").Replace("{i}", "inc_x").Replace("{m}", "m:1").Replace("{tok}", "tok_x")));
            if (anon.StatusCode != HttpStatusCode.Unauthorized)
            {
                failures.Add($"anonymous {method} {pathTemplate}: expected 401, got {(int)anon.StatusCode}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task<string> ApproveModelAsync(GatewayHost host)
    {
        var name = "m" + Guid.NewGuid().ToString("N")[..8] + ":1b";
        using var admin = host.Admin();
        var response = await admin.PutAsync($"/admin/models/{name}",
            new StringContent("""{"digest":"sha256:00000000000000000000000000000000000000000000000000000000000000ff"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return name;
    }

    private static async Task<string> TokenIdAsync(GatewayHost host)
    {
        using var admin = host.Admin();
        var response = await admin.PostAsync("/admin/tokens", new StringContent("""{"role":"auditor","name":"doomed"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadAsync()).Str("id");
    }

    private static async Task<string> OpenIncidentAsync(GatewayHost host, string tenant)
    {
        // The bootstrap token is admin, which may not open incidents (service only): use a service token.
        var service = await host.IssueTokenAsync("service", "svc");
        using var client = host.Admin(service);
        var response = await client.PostAsync("/admin/incidents",
            new StringContent($$"""{"source":"manual","summary":"s","tenantId":"{{tenant}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadAsync()).Str("id");
    }
}

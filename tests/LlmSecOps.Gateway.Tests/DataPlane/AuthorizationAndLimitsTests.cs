using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

public sealed class AuthorizationAndLimitsTests
{
    private static readonly object s_openTier = new
    {
        allowedModels = new[] { "*" }, defaultMaxTokens = 16, maxMaxTokens = 32, requestsPerMinute = 100000, tokensPerMinute = 10000000, concurrency = 2000,
    };

    private static StringContent Chat(string model = DataPlaneFixture.Model, bool stream = false) =>
        new($$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hello"}]}""", Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, string Code)> OpenAiErrorAsync(HttpResponseMessage response)
    {
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (response.StatusCode, json.GetProperty("error").GetProperty("code").GetString()!);
    }

    [Fact]
    public async Task EachStackedAuthorizationQuestionHasItsOwn403AndNoneReachesTheUpstream()
    {
        await using var f = await DataPlaneFixture.StartAsync(tier: new
        {
            allowedModels = new[] { DataPlaneFixture.Model, "phi3:mini" }, defaultMaxTokens = 16, maxMaxTokens = 32, requestsPerMinute = 1000, tokensPerMinute = 100000, concurrency = 4,
        });
        using var client = f.Client();

        // Tier does not allow the model.
        Assert.Equal((HttpStatusCode.Forbidden, "model_not_allowed"), await OpenAiErrorAsync(await client.PostAsync("/v1/chat/completions", Chat("mistral:7b"))));

        // Allowed by the tier, but not approved on this gateway.
        Assert.Equal((HttpStatusCode.Forbidden, "model_not_approved"), await OpenAiErrorAsync(await client.PostAsync("/v1/chat/completions", Chat("phi3:mini"))));

        // Key scope does not allow the endpoint.
        var (_, embedOnly) = await f.Gateway.IssueKeyAsync(f.TenantId, new { name = "e", scopes = new[] { "embeddings" } });
        using (var scoped = f.Client(embedOnly))
        {
            Assert.Equal((HttpStatusCode.Forbidden, "scope_not_allowed"), await OpenAiErrorAsync(await scoped.PostAsync("/v1/chat/completions", Chat())));
        }

        // Tenant suspended.
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PostAsync($"/admin/tenants/{f.TenantId}/suspend", null)).EnsureSuccessStatusCode();
        }

        Assert.Equal((HttpStatusCode.Forbidden, "tenant_suspended"), await OpenAiErrorAsync(await client.PostAsync("/v1/chat/completions", Chat())));
        var ollama = await client.PostAsync("/api/chat", Chat());
        Assert.Equal(HttpStatusCode.Forbidden, ollama.StatusCode);
        Assert.Equal(JsonValueKind.String, (await ollama.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").ValueKind);

        Assert.Empty(f.UpstreamRequests());
        var events = await f.EventsAsync(5);
        Assert.Equal(["forbidden", "model_not_approved", "forbidden", "forbidden", "forbidden"], events.Select(e => e["outcome"]));
        Assert.All(events, e => Assert.Equal("403", e["status"]));
        Assert.All(events, e => Assert.NotEqual("", e["key_id"]));
    }

    [Fact]
    public async Task RequestRateLimitAnswers429WithRetryAfterInBothFormats()
    {
        await using var f = await DataPlaneFixture.StartAsync(tier: new
        {
            allowedModels = new[] { "*" }, defaultMaxTokens = 16, maxMaxTokens = 32, requestsPerMinute = 2, tokensPerMinute = 100000, concurrency = 4,
        });
        using var client = f.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);
        var limited = await client.PostAsync("/v1/chat/completions", Chat());
        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limit_exceeded"), await OpenAiErrorAsync(limited));
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("0", limited.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal("2", limited.Headers.GetValues("x-ratelimit-limit-requests").Single());
        var ollama = await client.PostAsync("/api/chat", Chat());
        Assert.Equal(HttpStatusCode.TooManyRequests, ollama.StatusCode);
        Assert.NotNull(ollama.Headers.RetryAfter);
        Assert.Equal(2, f.UpstreamRequests().Count);
        var events = await f.EventsAsync(4);
        Assert.Equal(2, events.Count(e => e["outcome"] == "rate_limited" && e["status"] == "429"));
    }

    [Fact]
    public async Task BudgetExhaustedMidStreamEndsWithTheFinalErrorFrameInEachFormat()
    {
        await using var f = await DataPlaneFixture.StartAsync(tier: new
        {
            allowedModels = new[] { "*" }, defaultMaxTokens = 512, maxMaxTokens = 2048, requestsPerMinute = 1000, tokensPerMinute = 1000000, concurrency = 4,
        });
        // An upstream that ignores max_tokens: only the gateway's stream cut can enforce the budget.
        f.Simulator.State.UpdateSwitches(s => s with { IgnoreMaxTokens = true, CompletionTokens = 400 });
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/keys/{f.KeyId}/budget", new { dailyTokens = 700 })).EnsureSuccessStatusCode();
        }

        using var client = f.Client();
        var sse = await (await client.PostAsync("/v1/chat/completions", Chat(stream: true))).Content.ReadAsStringAsync();
        var frames = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", frames[^1].Trim());
        Assert.Contains("\"error\"", frames[^2], StringComparison.Ordinal);

        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/keys/{f.KeyId}/budget", new { dailyTokens = 1400 })).EnsureSuccessStatusCode();
        }

        var ndjson = await (await client.PostAsync("/api/chat", Chat(stream: true))).Content.ReadAsStringAsync();
        Assert.True(ndjson.Contains("\"error\"", StringComparison.Ordinal), ndjson[Math.Max(0, ndjson.Length - 600)..]);
        var last = JsonDocument.Parse(ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]).RootElement;
        Assert.True(last.GetProperty("done").GetBoolean());
        Assert.Equal(JsonValueKind.String, last.GetProperty("error").ValueKind);

        var events = await f.EventsAsync(2);
        Assert.All(events, e => Assert.Equal("budget_exhausted", e["outcome"]));
        var spent = events.Sum(e => long.Parse(e["prompt_tokens"], CultureInfo.InvariantCulture) + long.Parse(e["completion_tokens"], CultureInfo.InvariantCulture));
        Assert.True(spent <= 1400, $"spent {spent} of a 1400-token budget");
    }

    [Fact]
    public async Task AThousandConcurrentRequestsOnOneKeyNeverSettleMoreThanItsBudget()
    {
        await using var f = await DataPlaneFixture.StartAsync(tier: s_openTier);
        const long budget = 3000;
        using (var admin = f.Gateway.Admin())
        {
            (await admin.PutAsJsonAsync($"/admin/keys/{f.KeyId}/budget", new { dailyTokens = budget })).EnsureSuccessStatusCode();
        }

        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256 };
        using var client = new HttpClient(handler) { BaseAddress = new Uri(f.Gateway.DataUrl), Timeout = TimeSpan.FromMinutes(3) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", f.Key);
        var responses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async _ =>
        {
            using var r = await client.PostAsync("/v1/chat/completions", Chat());
            return r.StatusCode;
        }));

        var ok = responses.Count(s => s == HttpStatusCode.OK);
        Assert.True(ok > 0);
        Assert.Contains(HttpStatusCode.TooManyRequests, responses);
        Assert.All(responses, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, s.ToString()));

        // Usage rows are written off the request path (batched): wait until every served request has its row.
        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        long rows = 0, settled = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (rows < ok && DateTime.UtcNow < deadline)
        {
            await using var sum = new NpgsqlCommand("SELECT count(*), COALESCE(SUM(prompt_tokens + completion_tokens), 0)::bigint FROM gateway.usage WHERE key_id = @k", db);
            sum.Parameters.AddWithValue("k", f.KeyId);
            await using var reader = await sum.ExecuteReaderAsync();
            await reader.ReadAsync();
            (rows, settled) = (reader.GetInt64(0), reader.GetInt64(1));
            await Task.Delay(rows < ok ? 50 : 0);
        }

        Assert.Equal(ok, rows);
        Assert.True(settled <= budget, $"settled {settled} > budget {budget}");
        Assert.True(settled > 0);
        Assert.Equal(ok, f.UpstreamRequests().Count(r => r.Path == "/v1/chat/completions"));

        // Settling returned what the reservations did not use: the live Redis counter holds exactly the settled usage
        // (asking for one more completion is not a test of that: the settled total may legitimately leave less than one
        // request's reservation).
        await using var redis = await LlmSecOps.Redis.RedisConnection.ConnectAsync(f.Redis);
        var used = await redis.HashGetAsync(LlmSecOps.Limits.BudgetPeriods.DayKey(f.Gateway.RedisPrefix, "key", f.KeyId, DateTimeOffset.UtcNow), "used");
        Assert.Equal(settled.ToString(CultureInfo.InvariantCulture), used);
    }
}

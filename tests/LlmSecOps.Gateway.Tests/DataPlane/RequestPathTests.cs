using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Contracts.Keys;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

public sealed class RequestPathTests
{
    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task OpenAiChatIsForwardedToTheCanonicalRouteWithoutTheClientKeyAndRecordedWithUsage()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        using var client = f.Client();
        client.DefaultRequestHeaders.Add("x-api-key", f.Key);
        var response = await client.PostAsync("/v1/chat/completions", JsonBody($$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hello there"}]}"""));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var json = JsonDocument.Parse(text).RootElement;
        var completion = json.GetProperty("usage").GetProperty("completion_tokens").GetInt64();
        Assert.True(completion > 0);
        Assert.True(response.Headers.Contains("x-ratelimit-remaining-requests"));

        var upstream = Assert.Single(f.UpstreamRequests());
        Assert.Equal("/v1/chat/completions", upstream.RawTarget);
        Assert.Null(upstream.Header("Authorization"));
        Assert.Null(upstream.Header("x-api-key"));
        Assert.DoesNotContain(f.Key, string.Join("\n", upstream.Headers.Select(h => h.Key + ": " + h.Value)) + upstream.Body, StringComparison.Ordinal);
        // max_tokens is never unbounded: the tier default was injected.
        Assert.Contains("\"max_tokens\"", upstream.Body, StringComparison.Ordinal);

        var e = Assert.Single(await f.EventsAsync(1));
        Assert.Equal(RequestEvent.Fields.All.Order(), e.Keys.Order());
        Assert.Equal(f.KeyId, e["key_id"]);
        Assert.Equal("", e["claimed_key_id"]);
        Assert.Equal(f.TenantId, e["tenant_id"]);
        Assert.Equal("POST /v1/chat/completions", e["endpoint"]);
        Assert.Equal(DataPlaneFixture.Model, e["model"]);
        Assert.Equal("200", e["status"]);
        Assert.Equal("ok", e["outcome"]);
        Assert.Equal(completion.ToString(System.Globalization.CultureInfo.InvariantCulture), e["completion_tokens"]);
        Assert.Equal("0", e["stream"]);
        Assert.Equal("", e["max_tokens_requested"]);
        Assert.Equal("512", e["max_tokens_effective"]);

        await using var db = new NpgsqlConnection(f.Gateway.DatabaseConnectionString);
        await db.OpenAsync();
        // Usage rows are written off the request path (batched): poll.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        object? settled = null;
        while (settled is null && DateTime.UtcNow < deadline)
        {
            await using var usage = new NpgsqlCommand("SELECT completion_tokens FROM gateway.usage WHERE key_id = @k", db);
            usage.Parameters.AddWithValue("k", f.KeyId);
            settled = await usage.ExecuteScalarAsync();
            await Task.Delay(settled is null ? 50 : 0);
        }

        Assert.Equal(completion, (long)settled!);
        deadline = DateTime.UtcNow.AddSeconds(20);
        long records = 0;
        while (records == 0 && DateTime.UtcNow < deadline)
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM gateway.request_records WHERE key_id = @k AND outcome = 'ok'", db);
            count.Parameters.AddWithValue("k", f.KeyId);
            records = (long)(await count.ExecuteScalarAsync())!;
            await Task.Delay(100);
        }

        Assert.Equal(1, records);
    }

    [Fact]
    public async Task OllamaChatStreamsNdjsonAndOpenAiStreamsSseWithUsageSettled()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        using var client = f.Client();
        var ollama = await client.PostAsync("/api/chat", JsonBody($$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hi"}]}"""));
        var ndjson = await ollama.Content.ReadAsStringAsync();
        Assert.True(ollama.StatusCode == HttpStatusCode.OK, ndjson);
        var lines = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length > 2);
        Assert.True(JsonDocument.Parse(lines[^1]).RootElement.GetProperty("done").GetBoolean());

        var sse = await client.PostAsync("/v1/chat/completions", JsonBody($$"""{"model":"{{DataPlaneFixture.Model}}","stream":true,"messages":[{"role":"user","content":"hi"}]}"""));
        var sseText = await sse.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, sse.StatusCode);
        Assert.EndsWith("data: [DONE]", sseText.TrimEnd(), StringComparison.Ordinal);

        var events = await f.EventsAsync(2);
        Assert.All(events, e => Assert.Equal("1", e["stream"]));
        Assert.All(events, e => Assert.Equal("ok", e["outcome"]));
        Assert.All(events, e => Assert.True(long.Parse(e["completion_tokens"], System.Globalization.CultureInfo.InvariantCulture) > 0));
        Assert.All(events, e => Assert.Equal("stop", e["finish_reason"]));
    }

    [Fact]
    public async Task AStreamThatStopsAtItsMaxTokensIsNotCutShortByTheBudgetGuard()
    {
        // The upstream honours max_tokens; the byte-based token estimate of its words is larger than the token count,
        // and must not be mistaken for an upstream running past its limit (found by the gateway benchmark).
        await using var f = await DataPlaneFixture.StartAsync();
        using var client = f.Client();
        foreach (var (path, body) in new[]
        {
            ("/v1/chat/completions", $$"""{"model":"{{DataPlaneFixture.Model}}","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"tell me a long story"}]}"""),
            ("/api/chat", $$"""{"model":"{{DataPlaneFixture.Model}}","options":{"num_predict":8},"messages":[{"role":"user","content":"tell me a long story"}]}"""),
        })
        {
            var response = await client.PostAsync(path, JsonBody(body));
            var text = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.DoesNotContain("\"error\"", text, StringComparison.Ordinal);
        }

        var events = await f.EventsAsync(2);
        Assert.All(events, e => Assert.Equal("ok", e["outcome"]));
        Assert.All(events, e => Assert.Equal("length", e["finish_reason"]));
        Assert.All(events, e => Assert.InRange(long.Parse(e["completion_tokens"], System.Globalization.CultureInfo.InvariantCulture), 1, 8));
    }

    [Fact]
    public async Task EveryKindOfUnusableCredentialIs401AndNeverReachesTheUpstream()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        var wellFormedUnknown = ApiKey.Create();
        var badChecksum = f.Key[..^1] + (f.Key[^1] == 'A' ? 'B' : 'A');
        string?[] keys = [null, "sk-not-ours", badChecksum, wellFormedUnknown];
        foreach (var key in keys)
        {
            using var client = f.Gateway.Data(key);
            foreach (var (path, isOpenAi) in new[] { ("/v1/chat/completions", true), ("/api/chat", false) })
            {
                var response = await client.PostAsync(path, JsonBody($$"""{"model":"{{DataPlaneFixture.Model}}","messages":[{"role":"user","content":"hi"}]}"""));
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
                if (isOpenAi)
                {
                    Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
                }
                else
                {
                    Assert.Equal(JsonValueKind.String, error.ValueKind);
                }
            }
        }

        Assert.Empty(f.UpstreamRequests());
        var events = await f.EventsAsync(8);
        Assert.Equal(8, events.Count);
        Assert.All(events, e => Assert.Equal("", e["key_id"]));
        Assert.All(events, e => Assert.Equal("unauthenticated", e["outcome"]));
        Assert.Equal(2, events.Count(e => e["claimed_key_id"] == wellFormedUnknown.Split('_')[2]));
    }

    [Theory]
    [InlineData("POST", "/api/pull")]
    [InlineData("DELETE", "/api/delete")]
    [InlineData("POST", "/api/create")]
    [InlineData("POST", "/api/copy")]
    [InlineData("POST", "/api/push")]
    [InlineData("GET", "/api/ps")]
    [InlineData("POST", "/api/blobs/sha256:00")]
    [InlineData("POST", "/API/pull")]
    [InlineData("POST", "/api%2Fpull")]
    [InlineData("POST", "/api/%70ull")]
    [InlineData("POST", "/api/./pull")]
    [InlineData("POST", "/api//pull")]
    [InlineData("POST", "/api/chat/../pull")]
    [InlineData("POST", "/api/%252e%252e/pull")]
    [InlineData("POST", "/api/chat/")]
    [InlineData("POST", "/api/chat;x=1")]
    [InlineData("POST", "/v1/../api/pull")]
    public async Task ManagementRoutesAndNonCanonicalSpellingsNeverReachTheUpstream(string method, string target)
    {
        await using var f = await DataPlaneFixture.StartAsync();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync("127.0.0.1", f.Gateway.DataPort);
        await using var stream = tcp.GetStream();
        var body = $$"""{"model":"{{DataPlaneFixture.Model}}","name":"x"}""";
        var request = $"{method} {target} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {f.Key}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream);
        var statusLine = await reader.ReadLineAsync();
        Assert.NotNull(statusLine);
        var status = int.Parse(statusLine!.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(status, 400, 499);
        Assert.Empty(f.UpstreamRequests());
    }
}

using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// Issue 4, points 4 and 5 through the real gateway: the caller's TIER decides max_tokens and the parameter bounds, and
/// each test asserts what the simulator received (or that it received nothing).
/// </summary>
public sealed class TierPolicyTests(SharedGateway shared) : IClassFixture<SharedGateway>
{
    private const string Model = DataPlaneFixture.Model;

    /// <summary>Tier A: default 100, cap 200, over-cap clamped; tight parameter bounds (the defaults' switches off).</summary>
    private static readonly object StrictTier = new
    {
        allowedModels = new[] { "*" },
        defaultMaxTokens = 100,
        maxMaxTokens = 200,
        maxTokensOverCap = "clamp",
        requestsPerMinute = 100_000,
        tokensPerMinute = 100_000_000,
        concurrency = 50,
        parameters = new
        {
            maxN = 1, maxKeepAliveSeconds = 60, maxNumCtx = 2048, allowHardwareOptions = false, allowRaw = false, allowTemplateOverride = false,
            allowSystemOverride = false, maxImages = 1, maxImageBytes = 1000, allowRemoteImageUrls = false, allowLogprobs = false, maxTopLogprobs = 0,
            allowLogitBias = false, maxLogitBiasEntries = 0,
        },
    };

    /// <summary>Tier B: default 30, cap 60, over-cap refused; roomier parameter bounds.</summary>
    private static readonly object RoomyTier = new
    {
        allowedModels = new[] { "*" },
        defaultMaxTokens = 30,
        maxMaxTokens = 60,
        maxTokensOverCap = "reject",
        requestsPerMinute = 100_000,
        tokensPerMinute = 100_000_000,
        concurrency = 50,
        parameters = new
        {
            maxN = 3, maxKeepAliveSeconds = 600, maxNumCtx = 8192, allowHardwareOptions = true, allowRaw = true, allowTemplateOverride = true,
            allowSystemOverride = true, maxImages = 2, maxImageBytes = 10_000, allowRemoteImageUrls = false, allowLogprobs = true, maxTopLogprobs = 3,
            allowLogitBias = true, maxLogitBiasEntries = 2,
        },
    };

    [Fact]
    public async Task AnAbsentMaxTokensGetsTheCallersTierDefaultInjectedInEverySpellingTheUpstreamReads()
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        foreach (var (caller, expected) in new[] { (t.Strict, 100L), (t.Roomy, 30L) })
        {
            var chat = await t.ForwardedAsync(caller, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{m}}"}]}""");
            Assert.Equal(expected, chat["max_tokens"]!.GetValue<long>());

            var nullMax = await t.ForwardedAsync(caller, "/v1/chat/completions", m => $$"""{"max_tokens":null,"model":"{{Model}}","messages":[{"role":"user","content":"{{m}}"}]}""");
            Assert.Equal(expected, nullMax["max_tokens"]!.GetValue<long>());

            var completion = await t.ForwardedAsync(caller, "/v1/completions", m => $$"""{"model":"{{Model}}","prompt":"{{m}}"}""");
            Assert.Equal(expected, completion["max_tokens"]!.GetValue<long>());

            var ollamaChat = await t.ForwardedAsync(caller, "/api/chat", m => $$"""{"model":"{{Model}}","stream":false,"messages":[{"role":"user","content":"{{m}}"}]}""");
            Assert.Equal(expected, ollamaChat["options"]!["num_predict"]!.GetValue<long>());

            var generate = await t.ForwardedAsync(caller, "/api/generate", m => $$"""{"model":"{{Model}}","stream":false,"options":{"temperature":0},"prompt":"{{m}}"}""");
            Assert.Equal(expected, generate["options"]!["num_predict"]!.GetValue<long>());
            Assert.Equal(0, generate["options"]!["temperature"]!.GetValue<int>());
        }

        // The event records what was asked (nothing) and what was enforced.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        List<Dictionary<string, string>> mine;
        do
        {
            mine = [.. (await t.Fixture.EventsAsync(0)).Where(e => e["key_id"] == t.Roomy.KeyId)];
        }
        while (mine.Count < 5 && DateTime.UtcNow < deadline && await Delay());

        Assert.Equal(5, mine.Count);
        Assert.All(mine, e => Assert.Equal(("", "30"), (e["max_tokens_requested"], e["max_tokens_effective"])));

        static async Task<bool> Delay()
        {
            await Task.Delay(100);
            return true;
        }
    }

    [Fact]
    public async Task AboveTheCapIsClampedUnderClampAndRefusedUnderRejectIncludingOllamasUnlimitedValues()
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);

        // Tier A clamps to 200, whatever the spelling.
        var big = await t.ForwardedAsync(t.Strict, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_tokens":5000,"messages":[{"role":"user","content":"{{m}}"}]}""");
        Assert.Equal(200, big["max_tokens"]!.GetValue<long>());
        var huge = await t.ForwardedAsync(t.Strict, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"{{m}}"}]}""");
        Assert.Equal(200, huge["max_tokens"]!.GetValue<long>());
        var completionTokens = await t.ForwardedAsync(t.Strict, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_completion_tokens":5000,"messages":[{"role":"user","content":"{{m}}"}]}""");
        Assert.Equal(200, completionTokens["max_completion_tokens"]!.GetValue<long>());
        Assert.Equal(200, completionTokens["max_tokens"]!.GetValue<long>());
        var within = await t.ForwardedAsync(t.Strict, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_tokens":7,"messages":[{"role":"user","content":"{{m}}"}]}""");
        Assert.Equal(7, within["max_tokens"]!.GetValue<long>());
        foreach (var numPredict in new[] { "5000", "-1", "-2", "0" })
        {
            var ollama = await t.ForwardedAsync(t.Strict, "/api/generate", m => $$"""{"model":"{{Model}}","stream":false,"options":{"num_predict":{{numPredict}} },"prompt":"{{m}}"}""");
            Assert.Equal(200, ollama["options"]!["num_predict"]!.GetValue<long>());
        }

        // Tier B refuses anything above 60 with a message naming the spelling, and forwards nothing.
        await t.RefusedAsync(t.Roomy, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_tokens":61,"messages":[{"role":"user","content":"{{m}}"}]}""", "max_tokens");
        await t.RefusedAsync(t.Roomy, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_completion_tokens":5000,"messages":[{"role":"user","content":"{{m}}"}]}""", "max_completion_tokens");
        await t.RefusedAsync(t.Roomy, "/v1/completions", m => $$"""{"model":"{{Model}}","max_tokens":9223372036854775807,"prompt":"{{m}}"}""", "max_tokens");
        foreach (var numPredict in new[] { "61", "-1", "-2" })
        {
            await t.RefusedAsync(t.Roomy, "/api/chat", m => $$"""{"model":"{{Model}}","options":{"num_predict":{{numPredict}}},"messages":[{"role":"user","content":"{{m}}"}]}""", "options.num_predict");
        }

        var exactly = await t.ForwardedAsync(t.Roomy, "/api/chat", m => $$"""{"model":"{{Model}}","stream":false,"options":{"num_predict":60},"messages":[{"role":"user","content":"{{m}}"}]}""");
        Assert.Equal(60, exactly["options"]!["num_predict"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("\"100\"", "max_tokens")]
    [InlineData("100.5", "max_tokens")]
    [InlineData("100.0", "max_tokens")]
    [InlineData("1e3", "max_tokens")]
    [InlineData("-5", "max_tokens")]
    [InlineData("0", "max_tokens")]
    [InlineData("true", "max_tokens")]
    [InlineData("[100]", "max_tokens")]
    [InlineData("99999999999999999999999", "max_tokens")]
    [InlineData("10,\"max_tokens\":100000", "max_tokens")]
    [InlineData("10,\"\\u006dax_tokens\":100000", "max_tokens")]
    [InlineData("10,\"MAX_TOKENS\":100000", "MAX_TOKENS")]
    public async Task AMalformedOpenAiMaxTokensIsRefusedInOpenAisFormatAndNeverForwarded(string value, string named)
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        var error = await t.RefusedAsync(t.Strict, "/v1/chat/completions", m => $$"""{"model":"{{Model}}","max_tokens":{{value}},"messages":[{"role":"user","content":"{{m}}"}]}""", named);
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("error").GetProperty("code").GetString()));
    }

    [Theory]
    [InlineData("{\"num_predict\":\"100\"}", "num_predict")]
    [InlineData("{\"num_predict\":1.5}", "num_predict")]
    [InlineData("{\"num_predict\":true}", "num_predict")]
    [InlineData("{\"num_predict\":10,\"num_predict\":-1}", "num_predict")]
    [InlineData("{\"num_predict\":10},\"options\":{\"num_predict\":-1}", "options")]
    [InlineData("{\"num_predict\":10},\"Options\":{\"num_predict\":-1}", "Options")]
    public async Task AMalformedOllamaNumPredictIsRefusedInOllamasFormatAndNeverForwarded(string options, string named)
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        var error = await t.RefusedAsync(t.Strict, "/api/generate", m => $$"""{"model":"{{Model}}","prompt":"{{m}}","options":{{options}}}""", named);
        Assert.Equal(JsonValueKind.String, error.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task EachParameterBoundOfTheCallersTierIsEnforcedWithAMessageNamingTheParameter()
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        const string TinyImage = "iVBORw0KGgo="; // 8 bytes decoded
        var bigImage = Convert.ToBase64String(new byte[1500]);

        // (path, body, on tier A and on tier B: null = forwarded, else refused with a message naming this parameter)
        var cases = new (string Path, Func<string, string> Body, string? OnStrict, string? OnRoomy)[]
        {
            ("/v1/chat/completions", m => Chat(m, "\"n\":2"), "'n'", null),
            ("/v1/chat/completions", m => Chat(m, "\"n\":4"), "'n'", "'n'"),
            ("/v1/completions", m => $$"""{"model":"{{Model}}","prompt":"{{m}}","best_of":2}""", "best_of", null),
            ("/v1/completions", m => $$"""{"model":"{{Model}}","prompt":"{{m}}","best_of":4}""", "best_of", "best_of"),
            ("/api/generate", m => Generate(m, "\"options\":{\"num_ctx\":4096}"), "options.num_ctx", null),
            ("/api/generate", m => Generate(m, "\"options\":{\"num_ctx\":9000}"), "options.num_ctx", "options.num_ctx"),
            ("/api/generate", m => Generate(m, "\"options\":{\"num_gpu\":1}"), "options.num_gpu", null),
            ("/api/chat", m => OllamaChat(m, "\"options\":{\"main_gpu\":0}"), "options.main_gpu", null),
            ("/api/generate", m => Generate(m, "\"raw\":true"), "raw", null),
            ("/api/generate", m => Generate(m, "\"template\":\"{{ .Prompt }}\""), "template", null),
            ("/api/generate", m => Generate(m, "\"system\":\"You are a pirate.\""), "system", null),
            ("/api/chat", m => OllamaChat(m, "", $"\"images\":[\"{TinyImage}\",\"{TinyImage}\"]"), "images", null),
            ("/api/chat", m => OllamaChat(m, "", $"\"images\":[\"{TinyImage}\",\"{TinyImage}\",\"{TinyImage}\"]"), "images", "images"),
            ("/api/generate", m => Generate(m, $"\"images\":[\"{bigImage}\"]"), "images", null),
            ("/v1/chat/completions", m => Chat(m, "\"logprobs\":true"), "logprobs", null),
            ("/v1/chat/completions", m => Chat(m, "\"logprobs\":true,\"top_logprobs\":4"), "'logprobs'", "top_logprobs"),
            ("/v1/chat/completions", m => Chat(m, "\"logit_bias\":{\"50256\":-100}"), "logit_bias", null),
            ("/v1/chat/completions", m => Chat(m, "\"logit_bias\":{\"1\":1,\"2\":2,\"3\":3}"), "logit_bias", "logit_bias"),
            ("/v1/chat/completions", m => $$"""{"model":"{{Model}}","messages":[{"role":"user","content":[{"type":"text","text":"{{m}}"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"} }]}]}""", "image_url", "image_url"),
        };

        foreach (var (path, body, onStrict, onRoomy) in cases)
        {
            foreach (var (caller, parameter) in new[] { (t.Strict, onStrict), (t.Roomy, onRoomy) })
            {
                if (parameter is not null)
                {
                    await t.RefusedAsync(caller, path, body, parameter);
                }
                else
                {
                    await t.ForwardedAsync(caller, path, body);
                }
            }
        }

        // keep_alive is clamped to the tier's maximum (in seconds), not refused; a shorter one passes unchanged.
        foreach (var (caller, max) in new[] { (t.Strict, 60), (t.Roomy, 600) })
        {
            foreach (var keepAlive in new[] { "\"2h\"", "-1", "\"-1m\"", "86400" })
            {
                var forwarded = await t.ForwardedAsync(caller, "/api/chat", m => OllamaChat(m, $"\"keep_alive\":{keepAlive}"));
                Assert.Equal(max, forwarded["keep_alive"]!.GetValue<long>());
            }

            var shorter = await t.ForwardedAsync(caller, "/api/chat", m => OllamaChat(m, "\"keep_alive\":\"30s\""));
            Assert.Equal("30s", shorter["keep_alive"]!.GetValue<string>());
        }

        static string Chat(string m, string extra) => $$"""{"model":"{{Model}}",{{extra}},"messages":[{"role":"user","content":"{{m}}"}]}""";
        static string Generate(string m, string extra) => $$"""{"model":"{{Model}}","stream":false,{{extra}},"prompt":"{{m}}"}""";
        static string OllamaChat(string m, string extra, string messageExtra = "") =>
            $$"""{"model":"{{Model}}","stream":false{{(extra.Length > 0 ? "," + extra : "")}},"messages":[{"role":"user","content":"{{m}}"{{(messageExtra.Length > 0 ? "," + messageExtra : "")}}}]}""";
    }

    [Fact]
    public async Task UnderRejectARequestWithinTheTierCapButAboveWhatTheBudgetGrantsIsClampedToTheGrantNotRefused()
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        using var admin = t.Fixture.Gateway.Admin();

        // Reservation = input estimate (body bytes + 256 template overhead) + max_tokens. A budget of the input estimate
        // + 30 grants only part of the 60 asked for; the tier's over-cap refusal is about ITS cap, so the grant lowers
        // max_tokens instead of refusing.
        Func<string, string> body = m => $$"""{"model":"{{Model}}","max_tokens":60,"messages":[{"role":"user","content":"{{m}}"}]}""";
        var input = Encoding.UTF8.GetByteCount(body(Marker())) + 256;
        var budget = await admin.PutAsync($"/admin/keys/{t.Roomy.KeyId}/budget", new StringContent($$"""{"dailyTokens":{{input + 30}}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, budget.StatusCode);
        var forwarded = await t.ForwardedAsync(t.Roomy, "/v1/chat/completions", body);
        var granted = forwarded["max_tokens"]!.GetValue<long>();
        Assert.InRange(granted, 1, 59);
    }

    [Fact]
    public async Task MovingATenantToAnotherTierAppliesThatTiersBoundsToItsExistingKeys()
    {
        var t = await TwoTiers.StartAsync(shared.Fixture);
        await t.RefusedAsync(t.Strict, "/api/generate", m => $$"""{"model":"{{Model}}","stream":false,"raw":true,"prompt":"{{m}}"}""", "raw");

        using var admin = t.Fixture.Gateway.Admin();
        var moved = await admin.PutAsync($"/admin/tenants/{t.Strict.TenantId}/policy",
            new StringContent($$"""{"tier":"{{t.RoomyTierName}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, moved.StatusCode);

        var raw = await t.ForwardedAsync(t.Strict, "/api/generate", m => $$"""{"model":"{{Model}}","stream":false,"raw":true,"prompt":"{{m}}"}""");
        Assert.True(raw["raw"]!.GetValue<bool>());
        Assert.Equal(30, raw["options"]!["num_predict"]!.GetValue<long>());
    }

    /// <summary>A unique marker of letters only (digits could make a detector fire, e.g. a Luhn-valid run).</summary>
    private static string Marker() => "m" + string.Concat(Guid.NewGuid().ToByteArray().Select(b => (char)('a' + (b % 26))));

    /// <summary>A caller: a tenant on a tier and its key.</summary>
    internal sealed record Caller(string TenantId, string KeyId, string Key);

    /// <summary>Tenant A on <see cref="StrictTier"/> and tenant B on <see cref="RoomyTier"/>, made fresh for each test on the shared gateway.</summary>
    private sealed class TwoTiers
    {
        private TwoTiers(DataPlaneFixture fixture, Caller strict, Caller roomy, string roomyTierName)
        {
            Fixture = fixture;
            Strict = strict;
            Roomy = roomy;
            RoomyTierName = roomyTierName;
        }

        public DataPlaneFixture Fixture { get; }

        public Caller Strict { get; }

        public Caller Roomy { get; }

        public string RoomyTierName { get; }

        public static async Task<TwoTiers> StartAsync(DataPlaneFixture fixture)
        {
            var (strict, _) = await CallerOnNewTierAsync(fixture, "strict", StrictTier);
            var (roomy, roomyTier) = await CallerOnNewTierAsync(fixture, "roomy", RoomyTier);
            return new TwoTiers(fixture, strict, roomy, roomyTier);
        }

        private static async Task<(Caller Caller, string Tier)> CallerOnNewTierAsync(DataPlaneFixture fixture, string prefix, object tier)
        {
            var tierName = prefix + Guid.NewGuid().ToString("N")[..8];
            using var admin = fixture.Gateway.Admin();
            var put = await admin.PutAsync($"/admin/tiers/{tierName}", new StringContent(JsonSerializer.Serialize(tier, JsonSerializerOptions.Web), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            var tenant = await fixture.Gateway.CreateTenantAsync(prefix, tierName);
            var (keyId, key) = await fixture.Gateway.IssueKeyAsync(tenant);
            return (new Caller(tenant, keyId, key), tierName);
        }

        /// <summary>Sends a body carrying a unique marker; asserts 200 and returns the JSON body the simulator received.</summary>
        public async Task<JsonNode> ForwardedAsync(Caller caller, string path, Func<string, string> body)
        {
            var marker = Marker();
            var (status, text) = await SendAsync(caller, path, body(marker));
            Assert.True(status == HttpStatusCode.OK, $"{path} {body(marker)} -> {(int)status} {text}");
            var received = Assert.Single(Fixture.UpstreamRequests(), r => r.Body.Contains(marker, StringComparison.Ordinal));
            Assert.Equal(path, received.RawTarget);
            return JsonNode.Parse(received.Body)!;
        }

        /// <summary>Sends a body carrying a unique marker; asserts 400 naming <paramref name="parameter"/> and that the simulator never saw it.</summary>
        public async Task<JsonElement> RefusedAsync(Caller caller, string path, Func<string, string> body, string parameter)
        {
            var marker = Marker();
            var (status, text) = await SendAsync(caller, path, body(marker));
            Assert.True(status == HttpStatusCode.BadRequest, $"{path} {body(marker)} -> {(int)status} {text}");
            var error = JsonDocument.Parse(text).RootElement.Clone();
            var message = path.StartsWith("/v1/", StringComparison.Ordinal)
                ? error.GetProperty("error").GetProperty("message").GetString()!
                : error.GetProperty("error").GetString()!;
            Assert.True(message.Contains(parameter, StringComparison.Ordinal), $"'{message}' should name {parameter}");
            Assert.DoesNotContain(Fixture.AllUpstreamRequests(), r => r.Body.Contains(marker, StringComparison.Ordinal));
            return error;
        }

        private async Task<(HttpStatusCode Status, string Text)> SendAsync(Caller caller, string path, string body)
        {
            using var client = Fixture.Client(caller.Key);
            using var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
    }
}

/// <summary>One gateway in front of one simulator for a test class; each test makes its own tiers, tenants and keys on it.</summary>
public sealed class SharedGateway : IAsyncLifetime
{
    internal DataPlaneFixture Fixture { get; private set; } = null!;

    public async Task InitializeAsync() => Fixture = await DataPlaneFixture.StartAsync();

    public async Task DisposeAsync() => await Fixture.DisposeAsync();
}

using System.Text;
using System.Text.Json;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Parameters;
using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Tests.Parameters;

public sealed class ParameterTests
{
    private static readonly InferenceRoute OpenAiChat = RouteTable.Get(EndpointId.OpenAiChatCompletions);
    private static readonly InferenceRoute OpenAiCompletions = RouteTable.Get(EndpointId.OpenAiCompletions);
    private static readonly InferenceRoute OpenAiEmbeddings = RouteTable.Get(EndpointId.OpenAiEmbeddings);
    private static readonly InferenceRoute OllamaChat = RouteTable.Get(EndpointId.OllamaChat);
    private static readonly InferenceRoute OllamaGenerate = RouteTable.Get(EndpointId.OllamaGenerate);

    private static PreparedRequest Prepare(InferenceRoute route, string json, TierParameterPolicy? policy = null, RequestLimits? limits = null)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var parsed = RequestBodyParser.Parse(route, bytes, limits);
        return ParameterPolicyEnforcer.Apply(parsed, bytes, policy ?? new TierParameterPolicy());
    }

    private static JsonElement Forwarded(PreparedRequest prepared) => JsonDocument.Parse(prepared.Body).RootElement;

    private static InferenceRequestException Refused(InferenceRoute route, string json, TierParameterPolicy? policy = null, RequestLimits? limits = null) =>
        Assert.Throws<InferenceRequestException>(() => Prepare(route, json, policy, limits));

    private static InferenceRequestException RefusedBytes(InferenceRoute route, byte[] body) =>
        Assert.Throws<InferenceRequestException>(() => RequestBodyParser.Parse(route, body));

    [Fact]
    public void AnOpenAiChatWithoutMaxTokensGetsTheTierDefaultInjected()
    {
        var prepared = Prepare(OpenAiChat, """{"model":"llama3","messages":[{"role":"user","content":"hi"}]}""",
            new TierParameterPolicy { DefaultMaxTokens = 300 });

        Assert.Equal(300, Forwarded(prepared).GetProperty("max_tokens").GetInt32());
        Assert.Equal(300, prepared.EffectiveMaxTokens);
        Assert.True(prepared.MaxTokensRewritten);
        Assert.Null(prepared.Parameters.MaxTokensRequested);
        Assert.Equal("hi", Forwarded(prepared).GetProperty("messages")[0].GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("max_tokens")]
    [InlineData("max_completion_tokens")]
    public void AMaxTokensAboveTheCapIsClampedInTheSpellingTheClientUsed(string spelling)
    {
        var prepared = Prepare(OpenAiChat, $$"""{"model":"m","{{spelling}}":100000,"messages":[]}""",
            new TierParameterPolicy { MaxMaxTokens = 2000, DefaultMaxTokens = 100 });

        var forwarded = Forwarded(prepared);
        Assert.Equal(2000, forwarded.GetProperty(spelling).GetInt32());
        Assert.Equal(2000, forwarded.GetProperty("max_tokens").GetInt32());
        Assert.Equal(2000, prepared.EffectiveMaxTokens);
        Assert.Equal(100000, prepared.Parameters.MaxTokensRequested);
    }

    [Fact]
    public void BothOpenAiSpellingsAreClampedSoEitherUpstreamReadingIsBounded()
    {
        var prepared = Prepare(OpenAiChat, """{"model":"m","max_tokens":10,"max_completion_tokens":9000}""",
            new TierParameterPolicy { MaxMaxTokens = 500 });

        Assert.Equal(500, Forwarded(prepared).GetProperty("max_tokens").GetInt32());
        Assert.Equal(500, Forwarded(prepared).GetProperty("max_completion_tokens").GetInt32());
        Assert.Equal(500, prepared.EffectiveMaxTokens);
    }

    [Fact]
    public void MaxCompletionTokensWithinTheCapIsKeptAndMaxTokensAddedForUpstreamsThatOnlyReadThat()
    {
        var prepared = Prepare(OpenAiChat, """{"model":"m","max_completion_tokens":300}""", new TierParameterPolicy { MaxMaxTokens = 500 });

        Assert.Equal(300, Forwarded(prepared).GetProperty("max_completion_tokens").GetInt32());
        Assert.Equal(300, Forwarded(prepared).GetProperty("max_tokens").GetInt32());
        Assert.Equal(300, prepared.EffectiveMaxTokens);
    }

    [Fact]
    public void AMaxTokensWithinTheCapIsForwardedByteForByte()
    {
        const string json = """{"model":"m", "max_tokens" : 77 ,"messages":[{"role":"user","content":"x"}]}""";
        var prepared = Prepare(OpenAiChat, json);

        Assert.Equal(json, Encoding.UTF8.GetString(prepared.Body.Span));
        Assert.Equal(77, prepared.EffectiveMaxTokens);
        Assert.False(prepared.MaxTokensRewritten);
    }

    [Fact]
    public void AMaxTokensAboveTheCapIsRefusedWhenThePolicySaysReject()
    {
        var ex = Refused(OpenAiChat, """{"model":"m","max_tokens":5000}""",
            new TierParameterPolicy { MaxMaxTokens = 4096, MaxTokensExcess = ExcessMode.Reject });

        Assert.Equal(RequestErrorKind.AboveLimit, ex.Kind);
        Assert.Equal("max_tokens", ex.Parameter);
        Assert.Contains("4096", ex.Message);
        Assert.Equal(400, ex.StatusCode);
    }

    [Fact]
    public void AnExplicitNullMaxTokensIsTreatedAsAbsentAndReplaced()
    {
        var prepared = Prepare(OpenAiCompletions, """{"model":"m","prompt":"p","max_tokens":null}""", new TierParameterPolicy { DefaultMaxTokens = 64 });

        Assert.Equal(64, Forwarded(prepared).GetProperty("max_tokens").GetInt32());
    }

    [Theory]
    [InlineData("\"100\"", RequestErrorKind.InvalidType)]
    [InlineData("100.5", RequestErrorKind.InvalidValue)]
    [InlineData("100.0", RequestErrorKind.InvalidValue)]
    [InlineData("1e3", RequestErrorKind.InvalidValue)]
    [InlineData("-5", RequestErrorKind.InvalidValue)]
    [InlineData("0", RequestErrorKind.InvalidValue)]
    [InlineData("true", RequestErrorKind.InvalidType)]
    [InlineData("[100]", RequestErrorKind.InvalidType)]
    [InlineData("{\"v\":1}", RequestErrorKind.InvalidType)]
    [InlineData("99999999999999999999999", RequestErrorKind.InvalidValue)]
    [InlineData("-99999999999999999999999", RequestErrorKind.InvalidValue)]
    public void AMaxTokensThatIsNotAPositiveIntegerIsRefused(string value, RequestErrorKind kind)
    {
        var ex = Refused(OpenAiChat, $$"""{"model":"m","max_tokens":{{value}}}""");

        Assert.Equal(kind, ex.Kind);
        Assert.Equal("max_tokens", ex.Parameter);
    }

    [Fact]
    public void AnAbsurdButIntegerMaxTokensIsClampedToTheCap()
    {
        var prepared = Prepare(OpenAiChat, """{"model":"m","max_tokens":9223372036854775807}""", new TierParameterPolicy { MaxMaxTokens = 1000 });

        Assert.Equal(1000, Forwarded(prepared).GetProperty("max_tokens").GetInt64());
    }

    [Theory]
    [InlineData("""{"model":"m","prompt":"p"}""")]
    [InlineData("""{"model":"m","prompt":"p","options":{}}""")]
    [InlineData("""{"model":"m","prompt":"p","options":{"temperature":0.2}}""")]
    [InlineData("""{"model":"m","prompt":"p","options":null}""")]
    [InlineData("""{"model":"m","prompt":"p","options":{"num_predict":null}}""")]
    public void AnOllamaRequestWithoutNumPredictGetsTheDefaultInOptions(string json)
    {
        var prepared = Prepare(OllamaGenerate, json, new TierParameterPolicy { DefaultMaxTokens = 321 });

        var forwarded = Forwarded(prepared);
        Assert.Equal(321, forwarded.GetProperty("options").GetProperty("num_predict").GetInt32());
        Assert.Equal("m", forwarded.GetProperty("model").GetString());
        Assert.Equal(321, prepared.EffectiveMaxTokens);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(-2)]
    [InlineData(0)]
    [InlineData(-7)]
    public void OllamaUnlimitedNumPredictIsClampedToTheCap(int numPredict)
    {
        var prepared = Prepare(OllamaChat, $$$"""{"model":"m","messages":[],"options":{"num_predict":{{{numPredict}}},"seed":1}}""",
            new TierParameterPolicy { MaxMaxTokens = 900 });

        Assert.True(prepared.Parameters.RequestedUnlimited);
        Assert.Null(prepared.Parameters.MaxTokensRequested);
        Assert.Equal(900, Forwarded(prepared).GetProperty("options").GetProperty("num_predict").GetInt32());
        Assert.Equal(1, Forwarded(prepared).GetProperty("options").GetProperty("seed").GetInt32());
        Assert.Equal(900, prepared.EffectiveMaxTokens);
    }

    [Fact]
    public void OllamaUnlimitedNumPredictIsRefusedWhenThePolicySaysReject()
    {
        var ex = Refused(OllamaChat, """{"model":"m","options":{"num_predict":-1}}""", new TierParameterPolicy { MaxTokensExcess = ExcessMode.Reject });

        Assert.Equal(RequestErrorKind.AboveLimit, ex.Kind);
        Assert.Equal("options.num_predict", ex.Parameter);
    }

    [Theory]
    [InlineData("\"50\"", RequestErrorKind.InvalidType)]
    [InlineData("50.5", RequestErrorKind.InvalidValue)]
    [InlineData("false", RequestErrorKind.InvalidType)]
    public void AnOllamaNumPredictThatIsNotAnIntegerIsRefused(string value, RequestErrorKind kind)
    {
        var ex = Refused(OllamaGenerate, $$$"""{"model":"m","options":{"num_predict":{{{value}}}}}""");

        Assert.Equal(kind, ex.Kind);
        Assert.Equal("options.num_predict", ex.Parameter);
    }

    [Fact]
    public void OpenAiSpellingsOnOllamaRoutesAreNotMistakenForTheCap()
    {
        // Ollama ignores a top-level max_tokens on /api/chat; only options.num_predict bounds it.
        var prepared = Prepare(OllamaChat, """{"model":"m","max_tokens":10}""", new TierParameterPolicy { DefaultMaxTokens = 50 });

        Assert.Equal(50, Forwarded(prepared).GetProperty("options").GetProperty("num_predict").GetInt32());
    }

    [Theory]
    [InlineData("""{"model":"m","model":"n"}""", "model")]
    [InlineData("""{"model":"m","max_tokens":1,"max_tokens":100000}""", "max_tokens")]
    [InlineData("""{"model":"m","\u006dodel":"evil"}""", "model")]
    [InlineData("""{"model":"m","options":{"num_predict":1,"num_predict":-1}}""", "options.num_predict")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"a","content":"b"}]}""", "content")]
    [InlineData("""{"model":"m","tools":[{"function":{"parameters":{"a":1,"b":{"x":1,"x":2}}}}]}""", "x")]
    public void DuplicateKeysAnywhereAreRefused(string json, string parameter)
    {
        var ex = RefusedBytes(OllamaChat, Encoding.UTF8.GetBytes(json));

        Assert.Equal(RequestErrorKind.DuplicateKey, ex.Kind);
        Assert.Equal(parameter, ex.Parameter);
    }

    [Fact]
    public void TheSameKeyInSiblingObjectsIsNotADuplicate()
    {
        var parsed = RequestBodyParser.Parse(OpenAiChat, """{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"""u8);

        Assert.Equal(2, parsed.MessageCount);
        Assert.Equal(2, parsed.TextRanges.Count);
    }

    [Fact]
    public void AnObjectWithManyDistinctKeysIsAcceptedAndOneTooManyIsRefused()
    {
        var limits = new RequestLimits { MaxPropertiesPerObject = 1000 };
        string Body(int n) => "{\"model\":\"m\",\"extra\":{" + string.Join(',', Enumerable.Range(0, n).Select(i => $"\"k{i}\":{i}")) + "}}";

        RequestBodyParser.Parse(OpenAiChat, Encoding.UTF8.GetBytes(Body(1000)), limits);
        var ex = Assert.Throws<InferenceRequestException>(() => RequestBodyParser.Parse(OpenAiChat, Encoding.UTF8.GetBytes(Body(1001)), limits));
        Assert.Equal(RequestErrorKind.TooLarge, ex.Kind);
    }

    [Fact]
    public void NestingDeeperThanTheLimitIsRefused()
    {
        var limits = new RequestLimits { MaxDepth = 16 };
        var ok = "{\"model\":\"m\",\"x\":" + new string('[', 15) + new string(']', 15) + "}";
        var deep = "{\"model\":\"m\",\"x\":" + new string('[', 16) + new string(']', 16) + "}";
        var hostile = "{\"model\":\"m\",\"x\":" + new string('[', 100_000) + new string(']', 100_000) + "}";

        RequestBodyParser.Parse(OpenAiChat, Encoding.UTF8.GetBytes(ok), limits);
        Assert.Equal(RequestErrorKind.TooDeep, Assert.Throws<InferenceRequestException>(() => RequestBodyParser.Parse(OpenAiChat, Encoding.UTF8.GetBytes(deep), limits)).Kind);
        Assert.Equal(RequestErrorKind.TooDeep, RefusedBytes(OpenAiChat, Encoding.UTF8.GetBytes(hostile)).Kind);
    }

    [Theory]
    [InlineData(new byte[] { 0x7B, 0x22, 0x6D, 0x6F, 0x64, 0x65, 0x6C, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D })] // invalid continuation
    [InlineData(new byte[] { 0x7B, 0x22, 0x6D, 0x6F, 0x64, 0x65, 0x6C, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D })] // overlong '/'
    [InlineData(new byte[] { 0x7B, 0x22, 0x6D, 0x6F, 0x64, 0x65, 0x6C, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D })] // UTF-8 encoded surrogate
    [InlineData(new byte[] { 0x7B, 0x22, 0x6D, 0x6F, 0x64, 0x65, 0x6C, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D })]
    [InlineData(new byte[] { 0xEF, 0xBB, 0xBF, 0x7B, 0x7D })] // BOM
    public void ABodyThatIsNotCleanUtf8IsRefused(byte[] body)
    {
        Assert.Equal(RequestErrorKind.InvalidUtf8, RefusedBytes(OpenAiChat, body).Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("[]")]
    [InlineData("\"model\"")]
    [InlineData("null")]
    [InlineData("""{"model":"m",}""")]
    [InlineData("""{"model":"m"} {"model":"n"}""")]
    [InlineData("""{"model":"m"}x""")]
    [InlineData("""{"model":"m" /* c */}""")]
    [InlineData("""{'model':'m'}""")]
    [InlineData("""{"model":"m\x"}""")]
    [InlineData("""{"model":"m""")]
    [InlineData("""{"model":NaN}""")]
    public void MalformedJsonIsRefused(string json)
    {
        Assert.Equal(RequestErrorKind.MalformedJson, RefusedBytes(OpenAiChat, Encoding.UTF8.GetBytes(json)).Kind);
    }

    [Theory]
    [InlineData("""{"messages":[]}""", RequestErrorKind.Missing)]
    [InlineData("""{"model":""}""", RequestErrorKind.Missing)]
    [InlineData("""{"model":null}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":42}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"a\u0000b"}""", RequestErrorKind.InvalidValue)]
    [InlineData("""{"model":"m","messages":"hi"}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","messages":["hi"]}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","stream":"true"}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","stream_options":true}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","n":"2"}""", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","n":0}""", RequestErrorKind.InvalidValue)]
    public void WronglyTypedParametersAreRefusedWithTheirKind(string json, RequestErrorKind kind)
    {
        Assert.Equal(kind, RefusedBytes(OpenAiChat, Encoding.UTF8.GetBytes(json)).Kind);
    }

    [Fact]
    public void ABodyOverTheSizeLimitIsA413()
    {
        var ex = Refused(OpenAiChat, "{\"model\":\"m\",\"x\":\"" + new string('a', 2000) + "\"}", limits: new RequestLimits { MaxBodyBytes = 1000 });

        Assert.Equal(RequestErrorKind.TooLarge, ex.Kind);
        Assert.Equal(413, ex.StatusCode);
    }

    [Fact]
    public void TooManyMessagesOrArrayElementsAreRefused()
    {
        var limits = new RequestLimits { MaxArrayLength = 10 };
        var json = "{\"model\":\"m\",\"input\":[" + string.Join(',', Enumerable.Repeat("\"a\"", 11)) + "]}";

        Assert.Equal(RequestErrorKind.TooLarge, Refused(OpenAiEmbeddings, json, limits: limits).Kind);
    }

    [Theory]
    [InlineData("""{"model":"m","n":3}""", 3)]
    [InlineData("""{"model":"m","n":2,"best_of":4}""", 4)]
    [InlineData("""{"model":"m"}""", 1)]
    public void TheReservationMultipliesMaxTokensByTheCompletionsGenerated(string json, int multiplier)
    {
        var prepared = Prepare(OpenAiCompletions, json, new TierParameterPolicy { DefaultMaxTokens = 100, MaxN = 4 });

        Assert.Equal(prepared.InputTokenEstimate + (100 * multiplier), prepared.ReservationTokens);
    }

    [Theory]
    [InlineData("""{"model":"m","n":5}""", "n", RequestErrorKind.AboveLimit)]
    [InlineData("""{"model":"m","best_of":5}""", "best_of", RequestErrorKind.AboveLimit)]
    [InlineData("""{"model":"m","n":3,"best_of":2}""", "best_of", RequestErrorKind.InvalidValue)]
    public void NAndBestOfAreBoundedPerTier(string json, string parameter, RequestErrorKind kind)
    {
        var ex = Refused(OpenAiCompletions, json, new TierParameterPolicy { MaxN = 4 });

        Assert.Equal(kind, ex.Kind);
        Assert.Equal(parameter, ex.Parameter);
    }

    [Theory]
    [InlineData("\"5m\"", false, 300)]
    [InlineData("\"1h30m\"", true, 5400)]
    [InlineData("\"-1h\"", true, -1)]
    [InlineData("\"-1m\"", true, -1)]
    [InlineData("-1", true, -1)]
    [InlineData("600", false, 600)]
    [InlineData("7200", true, 7200)]
    [InlineData("0", false, 0)]
    [InlineData("\"0\"", false, 0)]
    [InlineData("\"30m\"", false, 1800)]
    public void KeepAliveAboveTheMaximumOrForeverIsClampedToIt(string value, bool clamped, int seconds)
    {
        var prepared = Prepare(OllamaChat, $$"""{"model":"m","keep_alive":{{value}}}""", new TierParameterPolicy { MaxKeepAlive = TimeSpan.FromMinutes(30) });

        var forwarded = Forwarded(prepared).GetProperty("keep_alive");
        if (clamped)
        {
            Assert.Equal(1800, forwarded.GetInt32());
        }
        else
        {
            Assert.Equal(value, forwarded.GetRawText());
            Assert.Equal(TimeSpan.FromSeconds(seconds), prepared.Parameters.KeepAlive);
        }

        Assert.Equal(seconds < 0, prepared.Parameters.KeepAliveForever);
    }

    [Fact]
    public void KeepAliveIsBoundedOnOpenAiRoutesToo()
    {
        var prepared = Prepare(OpenAiChat, """{"model":"m","keep_alive":-1}""", new TierParameterPolicy { MaxKeepAlive = TimeSpan.FromMinutes(10) });

        Assert.Equal(600, Forwarded(prepared).GetProperty("keep_alive").GetInt32());
    }

    [Theory]
    [InlineData("\"10\"")]
    [InlineData("\"-1\"")]
    [InlineData("\"5 minutes\"")]
    [InlineData("\"\"")]
    [InlineData("true")]
    [InlineData("{}")]
    public void AKeepAliveOllamaWouldNotParseIsRefused(string value)
    {
        var ex = Refused(OllamaChat, $$"""{"model":"m","keep_alive":{{value}}}""");

        Assert.Equal("keep_alive", ex.Parameter);
    }

    [Theory]
    [InlineData("5m", 300_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("300ms", 300)]
    [InlineData("2h45m30.5s", 9_930_500)]
    [InlineData("+10s", 10_000)]
    [InlineData("-5m", -300_000)]
    [InlineData("0", 0)]
    public void GoDurationsParseLikeGo(string text, long milliseconds)
    {
        Assert.True(GoDuration.TryParse(Encoding.UTF8.GetBytes(text), out var d));
        Assert.Equal(milliseconds, (long)d.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("m")]
    [InlineData("5x")]
    [InlineData("1..5s")]
    [InlineData("5m ")]
    [InlineData("99999999999999999999h")]
    public void NonGoDurationsAreRefused(string text)
    {
        Assert.False(GoDuration.TryParse(Encoding.UTF8.GetBytes(text), out _));
    }

    [Fact]
    public void NumCtxAboveTheTierCapIsRefused()
    {
        Prepare(OllamaChat, """{"model":"m","options":{"num_ctx":8192}}""", new TierParameterPolicy { MaxNumCtx = 8192 });
        var ex = Refused(OllamaChat, """{"model":"m","options":{"num_ctx":8193}}""", new TierParameterPolicy { MaxNumCtx = 8192 });

        Assert.Equal(RequestErrorKind.AboveLimit, ex.Kind);
        Assert.Equal("options.num_ctx", ex.Parameter);
    }

    [Theory]
    [InlineData("num_gpu")]
    [InlineData("main_gpu")]
    [InlineData("num_thread")]
    [InlineData("use_mlock")]
    public void HardwareOptionsAreRefusedUnlessTheTierAllowsThem(string option)
    {
        var json = $$$"""{"model":"m","options":{"{{{option}}}":1}}""";

        var ex = Refused(OllamaChat, json);
        Assert.Equal(RequestErrorKind.NotAllowed, ex.Kind);
        Assert.Equal("options." + option, ex.Parameter);
        Prepare(OllamaChat, json, new TierParameterPolicy { AllowHardwareOptions = true });
    }

    [Theory]
    [InlineData("""{"model":"m","prompt":"p","raw":true}""", "raw")]
    [InlineData("""{"model":"m","prompt":"p","template":"{{ .Prompt }}"}""", "template")]
    public void RawAndTemplateOverridesAreRefusedByDefault(string json, string parameter)
    {
        var ex = Refused(OllamaGenerate, json);

        Assert.Equal(RequestErrorKind.NotAllowed, ex.Kind);
        Assert.Equal(parameter, ex.Parameter);
        Prepare(OllamaGenerate, json, new TierParameterPolicy { AllowRaw = true, AllowTemplateOverride = true });
    }

    [Fact]
    public void RawFalseAndEmptyTemplateAreHarmlessAndAllowed()
    {
        Prepare(OllamaGenerate, """{"model":"m","prompt":"p","raw":false,"template":""}""");
    }

    [Fact]
    public void ASystemOverrideIsAllowedByDefaultAndRefusedWhenTheTierSaysSo()
    {
        const string json = """{"model":"m","prompt":"p","system":"be brief"}""";
        Prepare(OllamaGenerate, json);

        Assert.Equal(RequestErrorKind.NotAllowed, Refused(OllamaGenerate, json, new TierParameterPolicy { AllowSystemOverride = false }).Kind);
    }

    [Fact]
    public void ImagesAreCountedSizedAndExcludedFromTheTextEstimate()
    {
        var image = Convert.ToBase64String(new byte[30_000]);
        var json = $$"""{"model":"m","messages":[{"role":"user","content":"what","images":["{{image}}","{{image}}"]}]}""";
        var policy = new TierParameterPolicy { TokensPerImage = 1000, TemplateOverheadTokens = 0 };

        var prepared = Prepare(OllamaChat, json, policy);

        Assert.Equal(2, prepared.Parameters.ImageCount);
        Assert.Equal(30_000, prepared.Parameters.LargestImageBytes);
        Assert.Equal(json.Length - (2 * image.Length) + 2000, prepared.InputTokenEstimate);
    }

    [Fact]
    public void OpenAiImagePartsAreCountedAndRemoteUrlsRefused()
    {
        var dataUrl = "data:image/png;base64," + Convert.ToBase64String(new byte[3000]);
        var inline = $$$"""{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"{{{dataUrl}}}"}}]}]}""";
        var remote = """{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://169.254.169.254/latest/meta-data"}}]}]}""";

        var prepared = Prepare(OpenAiChat, inline);
        Assert.Equal(1, prepared.Parameters.ImageCount);
        Assert.Equal(3000, prepared.Parameters.LargestImageBytes);

        var ex = Refused(OpenAiChat, remote);
        Assert.Equal(RequestErrorKind.NotAllowed, ex.Kind);
        Assert.Equal("image_url", ex.Parameter);
        Prepare(OpenAiChat, remote, new TierParameterPolicy { AllowRemoteImageUrls = true });
    }

    [Fact]
    public void TooManyOrTooLargeImagesAreRefused()
    {
        var small = Convert.ToBase64String(new byte[10]);
        var many = $$"""{"model":"m","prompt":"x","images":[{{string.Join(',', Enumerable.Repeat($"\"{small}\"", 5))}}]}""";
        var big = $$"""{"model":"m","prompt":"x","images":["{{Convert.ToBase64String(new byte[2000])}}"]}""";

        Assert.Equal(RequestErrorKind.AboveLimit, Refused(OllamaGenerate, many, new TierParameterPolicy { MaxImages = 4 }).Kind);
        Assert.Equal(RequestErrorKind.AboveLimit, Refused(OllamaGenerate, big, new TierParameterPolicy { MaxImageBytes = 1000 }).Kind);
    }

    [Theory]
    [InlineData("""{"model":"m","logprobs":true,"top_logprobs":6}""", "top_logprobs", RequestErrorKind.AboveLimit)]
    [InlineData("""{"model":"m","logprobs":10}""", "top_logprobs", RequestErrorKind.AboveLimit)]
    [InlineData("""{"model":"m","logit_bias":{"50256":-100}}""", "logit_bias", RequestErrorKind.NotAllowed)]
    [InlineData("""{"model":"m","logprobs":"yes"}""", "logprobs", RequestErrorKind.InvalidType)]
    [InlineData("""{"model":"m","top_logprobs":-1}""", "top_logprobs", RequestErrorKind.InvalidValue)]
    public void LogprobsAndLogitBiasAreBounded(string json, string parameter, RequestErrorKind kind)
    {
        var ex = Refused(OpenAiCompletions, json, new TierParameterPolicy { MaxTopLogprobs = 5 });

        Assert.Equal(kind, ex.Kind);
        Assert.Equal(parameter, ex.Parameter);
    }

    [Fact]
    public void LogitBiasIsAllowedUpToItsEntryCapWhenTheTierAllowsIt()
    {
        var policy = new TierParameterPolicy { AllowLogitBias = true, MaxLogitBiasEntries = 2 };

        Prepare(OpenAiChat, """{"model":"m","logit_bias":{"1":1,"2":2}}""", policy);
        Assert.Equal(RequestErrorKind.AboveLimit, Refused(OpenAiChat, """{"model":"m","logit_bias":{"1":1,"2":2,"3":3}}""", policy).Kind);
        Assert.Equal(RequestErrorKind.NotAllowed, Refused(OpenAiChat, """{"model":"m","logprobs":true}""", new TierParameterPolicy { AllowLogprobs = false }).Kind);
    }

    [Theory]
    [InlineData("""{"model":"m","stream":true}""")]
    [InlineData("""{"model":"m","stream":true,"stream_options":{}}""")]
    [InlineData("""{"model":"m","stream":true,"stream_options":{"include_usage":false}}""")]
    [InlineData("""{"model":"m","stream":true,"stream_options":{"x":1}}""")]
    [InlineData("""{"model":"m","stream":true,"stream_options":null}""")]
    [InlineData("""{"stream":true,"stream_options":{"include_usage":null},"model":"m"}""")]
    public void AnOpenAiStreamIsMadeToReportUsage(string json)
    {
        var prepared = Prepare(OpenAiChat, json);

        Assert.True(prepared.UsageInjected);
        Assert.True(Forwarded(prepared).GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.True(Forwarded(prepared).TryGetProperty("max_tokens", out _));
    }

    [Fact]
    public void AStreamThatAlreadyAsksForUsageOrDoesNotStreamIsLeftAlone()
    {
        Assert.False(Prepare(OpenAiChat, """{"model":"m","stream":true,"stream_options":{"include_usage":true}}""").UsageInjected);
        Assert.False(Prepare(OpenAiChat, """{"model":"m","stream":false}""").UsageInjected);
        Assert.False(Prepare(OpenAiChat, """{"model":"m","stream":true}""", new TierParameterPolicy { ForceStreamUsage = false }).UsageInjected);
    }

    [Theory]
    [InlineData("""{"model":"m"}""", true)]
    [InlineData("""{"model":"m","stream":false}""", false)]
    [InlineData("""{"model":"m","stream":null}""", true)]
    public void OllamaStreamsByDefault(string json, bool streams)
    {
        Assert.Equal(streams, RequestBodyParser.Parse(OllamaChat, Encoding.UTF8.GetBytes(json)).StreamEffective);
        Assert.False(RequestBodyParser.Parse(OpenAiChat, Encoding.UTF8.GetBytes(json)).StreamEffective); // OpenAI defaults to not streaming
    }

    [Fact]
    public void EmbeddingsReserveOnlyTheInputEstimate()
    {
        var prepared = Prepare(OpenAiEmbeddings, """{"model":"e","input":["a","b"]}""");

        Assert.Null(prepared.EffectiveMaxTokens);
        Assert.Equal(prepared.InputTokenEstimate, prepared.ReservationTokens);
        Assert.False(Forwarded(prepared).TryGetProperty("max_tokens", out _));
    }

    [Fact]
    public void TheInputEstimateIsAtLeastTheUtf8BytesOfEveryPromptText()
    {
        string[] texts = ["Hello, world!", "日本語のテキスト", "emoji 😀😀 and \"quotes\" and \\ back", "ünïcödé\n\ttabs"];
        var messages = string.Join(',', texts.Select(t => $$"""{"role":"user","content":{{JsonSerializer.Serialize(t)}}}"""));
        var body = Encoding.UTF8.GetBytes($$"""{"model":"m","messages":[{{messages}}]}""");
        var parsed = RequestBodyParser.Parse(OpenAiChat, body);
        var prepared = ParameterPolicyEnforcer.Apply(parsed, body, new TierParameterPolicy { TemplateOverheadTokens = 0 });

        var textBytes = texts.Sum(t => Encoding.UTF8.GetByteCount(t));
        Assert.True(prepared.InputTokenEstimate >= textBytes, $"{prepared.InputTokenEstimate} < {textBytes}");

        // Text ranges are offsets into the ORIGINAL body (the forwarded one may have been spliced).
        var decoded = parsed.TextRanges.Select(r => r.GetText(body)).ToArray();
        Assert.Equal(texts, decoded);
    }

    [Fact]
    public void PromptTextIsCollectedFromEveryPlaceItCanHide()
    {
        var parsed = RequestBodyParser.Parse(OpenAiChat,
            """{"model":"m","messages":[{"role":"system","content":"s1"},{"role":"user","content":[{"type":"text","text":"t1"},{"type":"text","text":"t\u0032"}]}],"prompt":["p1","p2"],"input":"i1","suffix":"x1"}"""u8);

        var texts = parsed.TextRanges.Select(r => r.GetText("""{"model":"m","messages":[{"role":"system","content":"s1"},{"role":"user","content":[{"type":"text","text":"t1"},{"type":"text","text":"t\u0032"}]}],"prompt":["p1","p2"],"input":"i1","suffix":"x1"}"""u8)).ToArray();
        Assert.Equal(["s1", "t1", "t2", "p1", "p2", "i1", "x1"], texts);
    }

    [Fact]
    public void TheOriginalBodyIsReturnedUntouchedWhenThePolicyChangesNothing()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"m","input":"x"}""");
        var parsed = RequestBodyParser.Parse(OpenAiEmbeddings, bytes);

        var prepared = ParameterPolicyEnforcer.Apply(parsed, bytes, new TierParameterPolicy());

        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(prepared.Body, out var segment));
        Assert.Same(bytes, segment.Array);
    }

    [Fact]
    public void SeveralInsertionsAtTheSameOffsetProduceValidJson()
    {
        var prepared = Prepare(OpenAiChat, "{\"model\":\"m\",\"stream\":true}", new TierParameterPolicy { DefaultMaxTokens = 12 });

        var forwarded = Forwarded(prepared);
        Assert.True(forwarded.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(12, forwarded.GetProperty("max_tokens").GetInt32());
        Assert.Equal("m", forwarded.GetProperty("model").GetString());
        Assert.True(forwarded.GetProperty("stream").GetBoolean());
    }

    [Fact]
    public void TheDefaultPolicyAndLimitsAreValidAndBadOnesReportEveryError()
    {
        Assert.Empty(new TierParameterPolicy().Validate());
        Assert.Empty(new RequestLimits().Validate());

        var errors = new TierParameterPolicy { MaxMaxTokens = 0, DefaultMaxTokens = 5, MaxN = 0, MaxKeepAlive = TimeSpan.FromSeconds(-1) }.Validate();
        Assert.Equal(4, errors.Count);
        Assert.Equal(2, new RequestLimits { MaxDepth = 0, MaxMessages = -1 }.Validate().Count);
    }
}

public sealed class HostileStringTests
{
    [Theory]
    [InlineData("""{"model":"\ud800"}""")]
    [InlineData("""{"model":"a\udc00b"}""")]
    public void ALoneSurrogateEscapeInTheModelIsABadRequestNotACrash(string json)
    {
        var ex = Assert.Throws<InferenceRequestException>(() => RequestBodyParser.Parse(RouteTable.Get(EndpointId.OllamaChat), Encoding.UTF8.GetBytes(json)));

        Assert.Equal(400, ex.StatusCode);
    }

    [Fact]
    public void ALoneSurrogateEscapeInPromptTextIsReadWithoutThrowing()
    {
        var body = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"x\ud800y"}]}""");
        var parsed = RequestBodyParser.Parse(RouteTable.Get(EndpointId.OllamaChat), body);

        var text = parsed.TextRanges[0].GetText(body);

        Assert.Equal(3, text.Length);
        Assert.StartsWith("x", text);
    }
}

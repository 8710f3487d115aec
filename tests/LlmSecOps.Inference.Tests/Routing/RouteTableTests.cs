using LlmSecOps.Contracts.Keys;
using LlmSecOps.Inference.Routing;

namespace LlmSecOps.Inference.Tests.Routing;

public sealed class RouteTableTests
{
    [Theory]
    [InlineData("POST", "/v1/chat/completions", EndpointId.OpenAiChatCompletions, ApiFamily.OpenAi, KeyScopes.Chat, true)]
    [InlineData("POST", "/v1/completions", EndpointId.OpenAiCompletions, ApiFamily.OpenAi, KeyScopes.Completions, true)]
    [InlineData("POST", "/v1/embeddings", EndpointId.OpenAiEmbeddings, ApiFamily.OpenAi, KeyScopes.Embeddings, true)]
    [InlineData("GET", "/v1/models", EndpointId.OpenAiModels, ApiFamily.OpenAi, KeyScopes.Models, false)]
    [InlineData("POST", "/api/chat", EndpointId.OllamaChat, ApiFamily.Ollama, KeyScopes.Chat, true)]
    [InlineData("POST", "/api/generate", EndpointId.OllamaGenerate, ApiFamily.Ollama, KeyScopes.Completions, true)]
    [InlineData("POST", "/api/embed", EndpointId.OllamaEmbed, ApiFamily.Ollama, KeyScopes.Embeddings, true)]
    [InlineData("POST", "/api/embeddings", EndpointId.OllamaEmbeddings, ApiFamily.Ollama, KeyScopes.Embeddings, true)]
    [InlineData("GET", "/api/tags", EndpointId.OllamaTags, ApiFamily.Ollama, KeyScopes.Models, false)]
    [InlineData("POST", "/api/show", EndpointId.OllamaShow, ApiFamily.Ollama, KeyScopes.Models, true)]
    [InlineData("GET", "/api/version", EndpointId.OllamaVersion, ApiFamily.Ollama, KeyScopes.Models, false)]
    public void EveryCanonicalRouteMatchesWithItsMetadata(string method, string path, EndpointId id, ApiFamily family, string scope, bool namesModel)
    {
        var match = RouteTable.Match(method, path);

        Assert.True(match.IsMatch);
        Assert.Equal(id, match.Route!.Id);
        Assert.Equal(family, match.Route.Family);
        Assert.Equal(scope, match.Route.Scope);
        Assert.Equal(namesModel, match.Route.NamesModel);
        Assert.Equal(path, match.Route.Path);
        Assert.Equal(method + " " + path, match.Route.Endpoint);
        Assert.Same(match.Route, RouteTable.Get(id));
    }

    [Fact]
    public void AQueryStringIsIgnoredAndNotPartOfTheCanonicalRoute()
    {
        var match = RouteTable.Match("GET", "/v1/models?limit=5");

        Assert.True(match.IsMatch);
        Assert.Equal("/v1/models", match.Route!.Path);
    }

    [Theory]
    [InlineData("GET", "/v1/chat/completions")]
    [InlineData("PUT", "/api/chat")]
    [InlineData("DELETE", "/api/tags")]
    [InlineData("post", "/api/chat")]
    [InlineData("Post", "/v1/embeddings")]
    [InlineData("HEAD", "/api/version")]
    [InlineData("POST", "/api/tags")]
    public void AWrongOrWronglyCasedMethodIsRefused(string method, string path)
    {
        var match = RouteTable.Match(method, path);

        Assert.False(match.IsMatch);
        Assert.Equal(RouteRefusal.MethodNotAllowed, match.Refusal);
    }

    [Theory]
    [InlineData("/V1/chat/completions")]
    [InlineData("/v1/Chat/Completions")]
    [InlineData("/API/CHAT")]
    [InlineData("/v1/chat/completions/")]
    [InlineData("/api/chat/")]
    [InlineData("//v1/chat/completions")]
    [InlineData("/v1//chat/completions")]
    [InlineData("/v1/./chat/completions")]
    [InlineData("/v1/x/../chat/completions")]
    [InlineData("/./api/chat")]
    [InlineData("/v1%2Fchat%2Fcompletions")]
    [InlineData("/v1/chat%2fcompletions")]
    [InlineData("/v1/chat/completion%73")]
    [InlineData("/%61pi/chat")]
    [InlineData("/api%252Fchat")]
    [InlineData("/api/%2e/chat")]
    [InlineData("/api/%2E%2E/api/chat")]
    [InlineData("/api/chat;x=y")]
    [InlineData("/api;x=y/chat")]
    [InlineData("/v1/chat/completions;")]
    [InlineData("\\api\\chat")]
    [InlineData("/api\\chat")]
    [InlineData("/api/chat\0")]
    [InlineData("/api/chat%00")]
    [InlineData("/api/chat\t")]
    [InlineData("/api/chat ")]
    [InlineData("/api/chat\r\n")]
    [InlineData("/api/ch\u0430t")] // Cyrillic a
    [InlineData("/api/chat\u200b")]
    [InlineData("/api%C0%AFchat")] // overlong UTF-8 '/'
    [InlineData("/api/chat#x")]
    [InlineData("http://upstream/api/chat")]
    [InlineData("*")]
    [InlineData("")]
    [InlineData("api/chat")]
    public void ANonCanonicalSpellingOfAnAllowedRouteIsRefused(string raw)
    {
        var match = RouteTable.Match("POST", raw);

        Assert.False(match.IsMatch);
        Assert.NotEqual(RouteRefusal.None, match.Refusal);
    }

    [Theory]
    [InlineData("/V1/chat/completions")]
    [InlineData("/v1//chat/completions")]
    [InlineData("/v1/x/../chat/completions")]
    [InlineData("/v1%2Fchat%2Fcompletions")]
    [InlineData("/v1/chat/completions;a=b")]
    [InlineData("/v1\\chat\\completions")]
    [InlineData("/v1/chat/completions/")]
    public void ANonCanonicalSpellingIsReportedAsSuch(string raw)
    {
        Assert.Equal(RouteRefusal.NonCanonicalPath, RouteTable.Match("POST", raw).Refusal);
    }

    public static TheoryData<string, string> ManagementSpellings()
    {
        var data = new TheoryData<string, string>();
        string[] names = ["pull", "push", "create", "copy", "delete", "ps", "blobs/sha256:abc"];
        foreach (var name in names)
        {
            var first = name[0];
            var firstHex = ((int)first).ToString("X2");
            string[] spellings =
            [
                $"/api/{name}",
                $"/API/{name.ToUpperInvariant()}",
                $"/api/{name}/",
                $"//api/{name}",
                $"/api//{name}",
                $"/api/./{name}",
                $"/api/chat/../{name}",
                $"/v1/../api/{name}",
                $"/api%2F{name}",
                $"/api%2f{name}",
                $"/api%252F{name}",
                $"/api%25252F{name}",
                $"/api/%{firstHex}{name[1..]}",
                $"/api/%25{firstHex}{name[1..]}",
                $"/api/%2e/{name}",
                $"/api/%2E%2E/api/{name}",
                $"/api;x=y/{name}",
                $"/api/{name};x=y",
                $"\\api\\{name}",
                $"/api\\{name}",
                $"/api/{name}%00",
                $"/api/{name}\0",
                $"/api/ {name}",
            ];
            foreach (var spelling in spellings)
            {
                foreach (var method in new[] { "POST", "GET", "DELETE", "HEAD", "PUT" })
                {
                    data.Add(method, spelling);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ManagementSpellings))]
    public void EverySpellingOfAnOllamaManagementRouteIsRefusedAndRecognised(string method, string raw)
    {
        var match = RouteTable.Match(method, raw);

        Assert.False(match.IsMatch);
        Assert.Equal(RouteRefusal.ManagementRoute, match.Refusal);
    }

    [Theory]
    [InlineData("/api/pull%C0%AF")]
    [InlineData("/api%C0%AFpull")]
    [InlineData("/api/p%u0075ll")]
    public void OverlongAndNonStandardEncodingsOfManagementRoutesAreRefused(string raw)
    {
        Assert.False(RouteTable.Match("POST", raw).IsMatch);
    }

    [Theory]
    [InlineData("/v1/models/llama3")]
    [InlineData("/v1/files")]
    [InlineData("/v1/fine_tuning/jobs")]
    [InlineData("/api/version2")]
    [InlineData("/health/live")]
    [InlineData("/")]
    [InlineData("/metrics")]
    public void AnUnknownCanonicalLookingPathIsAnUnknownRoute(string raw)
    {
        var match = RouteTable.Match("GET", raw);

        Assert.False(match.IsMatch);
        Assert.Equal(RouteRefusal.UnknownRoute, match.Refusal);
    }

    [Fact]
    public void EveryRouteIsReachableByItsIdAndTheTableHasNoDuplicates()
    {
        Assert.Equal(Enum.GetValues<EndpointId>().Length, RouteTable.All.Count);
        Assert.Equal(RouteTable.All.Count, RouteTable.All.Select(r => r.Endpoint).Distinct().Count());
        foreach (var id in Enum.GetValues<EndpointId>())
        {
            Assert.Equal(id, RouteTable.Get(id).Id);
        }
    }
}

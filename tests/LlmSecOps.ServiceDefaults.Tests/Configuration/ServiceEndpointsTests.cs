using LlmSecOps.ServiceDefaults.Configuration;
using LlmSecOps.ServiceDefaults.Kestrel;
using Microsoft.Extensions.Configuration;

namespace LlmSecOps.ServiceDefaults.Tests.Configuration;

public class ServiceEndpointsTests
{
    [Fact]
    public void AspireServiceDiscoveryVariablesWinOverConnectionStrings()
    {
        var config = Build(new()
        {
            ["services:ollama:http:0"] = "http://ollama:11434",
            ["ConnectionStrings:ollama"] = "Endpoint=http://other:1",
        });

        Assert.Equal(new Uri("http://ollama:11434"), ServiceEndpoints.Resolve(config, "ollama"));
    }

    [Theory]
    [InlineData("Endpoint=http://10.0.0.5:11434", "http://10.0.0.5:11434/")]
    [InlineData("Endpoint=http://ollama:11434;Model=llama3.2", "http://ollama:11434/")]
    [InlineData("http://127.0.0.1:11434", "http://127.0.0.1:11434/")]
    public void ConnectionStringFormsAreUnderstood(string connectionString, string expected)
    {
        var config = Build(new() { ["ConnectionStrings:ollama"] = connectionString });
        Assert.Equal(new Uri(expected), ServiceEndpoints.Resolve(config, "ollama"));
    }

    [Fact]
    public void NamedEndpointsAreLookedUpInTheOrderGiven()
    {
        var config = Build(new()
        {
            ["services:gateway:http:0"] = "http://gw:8080",
            ["services:gateway:admin:0"] = "http://gw:8081",
        });

        Assert.Equal(new Uri("http://gw:8081"), ServiceEndpoints.Resolve(config, "gateway", "admin"));
        Assert.Null(ServiceEndpoints.Resolve(config, "missing"));
    }

    [Fact]
    public void InvalidKestrelLimitsAreAllReportedAtOnce()
    {
        var result = new KestrelLimitsValidator().Validate(null, new KestrelLimitsOptions
        {
            MaxRequestBodySize = 0,
            MaxRequestHeaderCount = 1,
            RequestHeadersTimeout = TimeSpan.Zero,
        });

        Assert.True(result.Failed);
        Assert.Equal(3, result.Failures!.Count());
    }

    private static IConfiguration Build(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}

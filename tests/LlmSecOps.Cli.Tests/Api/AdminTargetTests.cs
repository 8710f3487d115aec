using LlmSecOps.Cli.Api;

namespace LlmSecOps.Cli.Tests.Api;

public sealed class AdminTargetTests
{
    private const string Token = "tok-AdminTargetTests-0123456789abcdefghijkl";

    private static Func<string, string?> Env(string? url = null, string? token = null) =>
        name => name switch
        {
            "LLMSECOPS_ADMIN_URL" => url,
            "LLMSECOPS_ADMIN_TOKEN" => token,
            _ => null,
        };

    [Fact]
    public void WithNothingConfiguredTheDefaultIsTheLoopbackAdminListener()
    {
        var target = AdminTarget.Resolve(null, null, false, Env(token: Token));
        Assert.Equal(new Uri("http://127.0.0.1:8081/"), target.BaseUrl);
    }

    [Theory]
    [InlineData("http://localhost:8081")]
    [InlineData("http://127.0.0.1:18081")]
    [InlineData("http://127.1.2.3:8081")]
    [InlineData("http://[::1]:8081")]
    [InlineData("https://admin.example.com")]
    public void LoopbackHttpAndAnyHttpsAreAccepted(string url) =>
        Assert.NotNull(AdminTarget.Resolve(url, Token, false, Env()));

    [Fact]
    public void ABasePathIsKeptForRelativeRoutes()
    {
        var target = AdminTarget.Resolve("https://ops.example.com/llmsecops", Token, false, Env());
        Assert.Equal("https://ops.example.com/llmsecops/admin/tenants", new Uri(target.BaseUrl, "admin/tenants").ToString());
    }

    [Fact]
    public void TheTokenOptionWinsOverTheEnvironment()
    {
        var target = AdminTarget.Resolve(null, "from-option-0123456789", false, Env(token: "from-env-0123456789"));
        Assert.Equal("from-option-0123456789", target.Token);
    }

    [Fact]
    public void ToStringNeverShowsTheToken() =>
        Assert.DoesNotContain(Token, AdminTarget.Resolve(null, Token, false, Env()).ToString());

    [Fact]
    public void ATokenWithControlCharactersIsRefusedWithoutEchoingIt()
    {
        var ex = Assert.Throws<CliException>(() => AdminTarget.Resolve(null, "abc\r\nX-Injected: 1", false, Env()));
        Assert.Equal(ExitCodes.UsageError, ex.ExitCode);
        Assert.DoesNotContain("X-Injected", ex.Message);
    }
}

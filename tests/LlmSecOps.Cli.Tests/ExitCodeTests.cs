namespace LlmSecOps.Cli.Tests;

public sealed class ExitCodeTests
{
    private const string Token = "tok-ExitCodeTests-0123456789abcdefghijklmnop";

    [Fact]
    public async Task NoCommandIsAUsageErrorWithExitCode2()
    {
        var result = await CliRunner.RunAsync();
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Required command was not provided", result.Stderr);
        Assert.Contains("llmsecops --help", result.Stderr);
    }

    [Fact]
    public async Task HelpExitsZeroAndListsEveryCommandGroup()
    {
        var result = await CliRunner.RunAsync("--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var group in new[] { "tenants", "keys", "incidents", "usage", "audit", "tiers", "models", "tokens" })
        {
            Assert.Contains(group, result.Stdout);
        }
    }

    [Theory]
    [InlineData("keys", "issue")]                                     // missing tenant id
    [InlineData("keys", "revoke", "AAAAAAAAAAAA")]                    // missing --reason
    [InlineData("keys", "rotate", "AAAAAAAAAAAA")]                    // missing --grace
    [InlineData("keys", "issue", "ten_x", "--env", "prod")]           // env not live|test
    [InlineData("tenants", "create", "--name", "a", "--bogus")]       // unknown option
    [InlineData("tenants", "frobnicate")]                             // unknown command
    [InlineData("incidents", "list", "--status", "closed")]           // status not in the list
    [InlineData("tokens", "issue", "--role", "root", "--name", "x")]  // unknown role
    [InlineData("keys", "list", "ten_x", "--timeout", "0")]           // timeout out of range
    [InlineData("keys", "rotate", "AAAAAAAAAAAA", "--grace", "-5")]   // negative grace
    public async Task MalformedCommandLinesExitWith2BeforeAnyRequest(params string[] args)
    {
        // No URL, no token: a usage error must be found before the CLI even looks for them.
        var result = await CliRunner.RunAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error:", result.Stderr);
    }

    [Fact]
    public async Task AMissingTokenIsAUsageErrorThatSaysHowToSetIt()
    {
        var result = await CliRunner.RunAsync("tenants", "get", "ten_x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("LLMSECOPS_ADMIN_TOKEN", result.Stderr);
    }

    [Fact]
    public async Task AnUnreachableAdminApiExitsWith3AndNamesTheUrl()
    {
        var url = CliRunner.ClosedLoopbackUrl();
        var result = await CliRunner.RunAsync("--url", url, "--token", Token, "tenants", "get", "ten_x");
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains(url, result.Stderr);
        Assert.DoesNotContain(Token, result.All);
    }

    [Fact]
    public async Task UrlAndTokenComeFromTheEnvironmentWhenNoOptionIsGiven()
    {
        var url = CliRunner.ClosedLoopbackUrl();
        var env = new Dictionary<string, string> { ["LLMSECOPS_ADMIN_URL"] = url, ["LLMSECOPS_ADMIN_TOKEN"] = Token };
        var result = await CliRunner.RunWithAsync(env, null, "tenants", "get", "ten_x");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains(url, result.Stderr);
    }

    [Fact]
    public async Task TheUrlOptionOverridesTheEnvironment()
    {
        var fromEnv = CliRunner.ClosedLoopbackUrl();
        var fromOption = CliRunner.ClosedLoopbackUrl();
        var env = new Dictionary<string, string> { ["LLMSECOPS_ADMIN_URL"] = fromEnv, ["LLMSECOPS_ADMIN_TOKEN"] = Token };
        var result = await CliRunner.RunWithAsync(env, null, "--url", fromOption, "tenants", "get", "ten_x");
        Assert.Equal(3, result.ExitCode);
        Assert.Contains(fromOption, result.Stderr);
        Assert.DoesNotContain(fromEnv, result.Stderr);
    }

    [Theory]
    [InlineData("http://admin.example.com:8081")]
    [InlineData("http://10.0.0.5:8081")]
    [InlineData("http://[2001:db8::1]:8081")]
    public async Task TheTokenIsNeverSentOverPlainHttpToANonLoopbackHost(string url)
    {
        var result = await CliRunner.RunAsync("--url", url, "--token", Token, "keys", "list", "ten_x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--insecure", result.Stderr);
        Assert.Contains("plain http", result.Stderr);
        Assert.DoesNotContain(Token, result.All);
    }

    [Fact]
    public async Task InsecureLetsPlainHttpThroughToANonLoopbackHost()
    {
        // RFC 6761: .invalid never resolves, so the request fails at DNS (exit 3) rather than being refused (exit 2).
        var result = await CliRunner.RunAsync("--url", "http://llmsecops-admin.invalid:8081", "--token", Token, "--insecure", "--timeout", "10",
            "keys", "list", "ten_x");
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.DoesNotContain(Token, result.All);
    }

    [Theory]
    [InlineData("ftp://127.0.0.1:8081")]
    [InlineData("127.0.0.1:8081")]
    [InlineData("http://user:pw@127.0.0.1:8081")]
    public async Task AUrlThatIsNotPlainHttpOrHttpsIsAUsageError(string url)
    {
        var result = await CliRunner.RunAsync("--url", url, "--token", Token, "keys", "list", "ten_x");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not an absolute http", result.Stderr);
    }

    [Fact]
    public async Task AnApiThatNeverAnswersTimesOutWithExitCode3()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();   // accepts connections (the kernel backlog does), never answers
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        var result = await CliRunner.RunAsync("--url", url, "--token", Token, "--timeout", "1", "tenants", "list");
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("did not answer within 1 s", result.Stderr);
    }

    [Fact]
    public async Task CtrlCWhileWaitingExitsWith130()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var interrupt = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var code = await CliApp.RunAsync(["--url", url, "--token", Token, "--timeout", "60", "tenants", "list"],
            CliHost.ForWriters(stdout, stderr), interrupt.Token);
        Assert.Equal(130, code);
        Assert.Contains("cancelled", stderr.ToString());
    }
}

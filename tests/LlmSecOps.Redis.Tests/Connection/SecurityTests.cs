using System.Security.Authentication;
using LlmSecOps.Testing.Redis;

namespace LlmSecOps.Redis.Tests.Connection;

/// <summary>Password authentication and TLS against private redis-servers.</summary>
public sealed class SecurityTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task ThePasswordInEachConnectionStringFormAuthenticates()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Password = "s3cr:et/pw" });
        string[] forms =
        [
            server.ConnectionString,                                         // 127.0.0.1:port,password=... (Aspire)
            $"redis://:{Uri.EscapeDataString("s3cr:et/pw")}@127.0.0.1:{server.Port}",
            $"redis://default:{Uri.EscapeDataString("s3cr:et/pw")}@127.0.0.1:{server.Port}/2",
            $"127.0.0.1:{server.Port},user=default,password=s3cr:et/pw",
        ];
        foreach (var form in forms)
        {
            await using var redis = await RedisConnection.ConnectAsync(form).WaitAsync(Bound);
            Assert.True(await redis.SetAsync("k", form));
            Assert.Equal(form, await redis.GetAsync("k"));
        }
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task AWrongPasswordFailsWithAnAuthenticationErrorThatDoesNotEchoIt()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Password = "right-password" });
        var ex = await Assert.ThrowsAsync<RedisAuthenticationException>(
            () => RedisConnection.ConnectAsync($"127.0.0.1:{server.Port},password=wrong-password-123").WaitAsync(Bound));
        Assert.Contains("WRONGPASS", ex.Message);
        Assert.DoesNotContain("wrong-password-123", ex.ToString());
        Assert.DoesNotContain("right-password", ex.ToString());
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task AMissingPasswordFailsWithAnAuthenticationErrorNamingTheFix()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Password = "pw" });
        var ex = await Assert.ThrowsAsync<RedisAuthenticationException>(
            () => RedisConnection.ConnectAsync($"127.0.0.1:{server.Port}").WaitAsync(Bound));
        Assert.Contains("NOAUTH", ex.Message);
        Assert.Contains("password=", ex.Message);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task WithAbortConnectFalseAWrongPasswordMakesCommandsFailWithTheAuthenticationError()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Password = "pw" });
        await using var redis = await RedisConnection.ConnectAsync($"127.0.0.1:{server.Port},password=nope,abortConnect=false").WaitAsync(Bound);
        var ex = await Assert.ThrowsAsync<RedisAuthenticationException>(() => redis.GetAsync("k"));
        Assert.Contains("WRONGPASS", ex.Message);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task TlsWorksWithRedissUrlsAndTheAspireSslForm()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Tls = true, Password = "tls-pw" });
        var ca = Uri.EscapeDataString(server.CaCertificatePath!);
        string[] forms =
        [
            $"rediss://:tls-pw@127.0.0.1:{server.Port}?sslCaFile={ca}",
            server.ConnectionString + $",sslCaFile={server.CaCertificatePath}",  // 127.0.0.1:port,password=..,ssl=true
            $"rediss://:tls-pw@localhost:{server.Port}?sslCaFile={ca}",         // DNS name in the SAN
        ];
        foreach (var form in forms)
        {
            await using var redis = await RedisConnection.ConnectAsync(form).WaitAsync(Bound);
            Assert.True(await redis.SetAsync("tls", "yes"));
            Assert.Equal("yes", await redis.GetAsync("tls"));
            var big = new string('z', 200_000);
            await redis.SetAsync("big", big);
            Assert.Equal(big, await redis.GetAsync("big"));
        }
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task TlsRefusesAServerCertificateFromAnUntrustedAuthority()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Tls = true });
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(
            () => RedisConnection.ConnectAsync(server.ConnectionString).WaitAsync(Bound));
        Assert.IsType<AuthenticationException>(ex.InnerException, exactMatch: false);
    }

    [Fact(Timeout = TestTimeouts.Test)]
    public async Task TlsRefusesACertificateForAnotherNameEvenFromTheTrustedAuthority()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Tls = true });
        var ex = await Assert.ThrowsAsync<RedisConnectionException>(
            () => RedisConnection.ConnectAsync(server.ConnectionString + $",sslHost=redis.example.org,sslCaFile={server.CaCertificatePath}").WaitAsync(Bound));
        Assert.IsType<AuthenticationException>(ex.InnerException, exactMatch: false);
    }

    [Fact(Timeout = TestTimeouts.Resilience)]
    public async Task TlsConnectionsReconnectAndResubscribeAfterARestart()
    {
        await using var server = await RedisServerProcess.StartAsync(new RedisServerOptions { Tls = true });
        var options = RedisOptions.Parse(server.ConnectionString + $",sslCaFile={server.CaCertificatePath}");
        options.ReconnectMaxDelay = TimeSpan.FromMilliseconds(300);
        await using var redis = await RedisConnection.ConnectAsync(options).WaitAsync(Bound);
        var got = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        redis.SubscriptionsRestored += (_, _) => restored.TrySetResult();
        await using var sub = await redis.SubscribeAsync("c", (_, m) => got.TrySetResult(m.AsString()!)).WaitAsync(Bound);

        server.Kill();
        await Assert.ThrowsAnyAsync<RedisException>(() => redis.GetAsync("k"));
        await server.RestartAsync();
        await restored.Task.WaitAsync(Bound);
        var deadline = DateTime.UtcNow + Bound;
        while (!redis.IsConnected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, await redis.PublishAsync("c", "after-restart"));
        Assert.Equal("after-restart", await got.Task.WaitAsync(Bound));
    }
}

namespace LlmSecOps.Redis.Tests.Configuration;

public sealed class RedisOptionsTests
{
    [Fact]
    public void TheAspireFormIsParsedWithPasswordSslAndFlags()
    {
        var o = RedisOptions.Parse("redis-host:6380,password=p@ss=w,ssl=true,abortConnect=false,connectTimeout=2500,syncTimeout=1500,defaultDatabase=4,name=gw");
        Assert.Equal("redis-host", o.Host);
        Assert.Equal(6380, o.Port);
        Assert.Equal("p@ss=w", o.Password);
        Assert.True(o.Ssl);
        Assert.False(o.AbortOnConnectFail);
        Assert.Equal(TimeSpan.FromMilliseconds(2500), o.ConnectTimeout);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), o.CommandTimeout);
        Assert.Equal(4, o.Database);
        Assert.Equal("gw", o.ClientName);
    }

    [Fact]
    public void AHostAloneGetsTheDefaultPortAndSafeDefaults()
    {
        var o = RedisOptions.Parse("localhost");
        Assert.Equal("localhost", o.Host);
        Assert.Equal(6379, o.Port);
        Assert.Null(o.Password);
        Assert.False(o.Ssl);
        Assert.True(o.AbortOnConnectFail);
        Assert.Equal(0, o.Database);
        Assert.Equal("", o.KeyPrefix);
    }

    [Fact]
    public void RedisUrlsCarryUserPasswordDatabaseAndQueryOptions()
    {
        var o = RedisOptions.Parse("redis://alice:p%40ss%3Aword@10.0.0.5:7000/3?abortConnect=false&keyPrefix=t1:");
        Assert.Equal("10.0.0.5", o.Host);
        Assert.Equal(7000, o.Port);
        Assert.Equal("alice", o.User);
        Assert.Equal("p@ss:word", o.Password);
        Assert.Equal(3, o.Database);
        Assert.False(o.Ssl);
        Assert.False(o.AbortOnConnectFail);
        Assert.Equal("t1:", o.KeyPrefix);
    }

    [Fact]
    public void RedissUrlsTurnOnTls()
    {
        var o = RedisOptions.Parse("rediss://:pw@cache.internal");
        Assert.True(o.Ssl);
        Assert.Equal("cache.internal", o.Host);
        Assert.Equal(6379, o.Port);
        Assert.Null(o.User);
        Assert.Equal("pw", o.Password);
    }

    [Theory]
    [InlineData("[::1]:6390", "::1", 6390)]
    [InlineData("redis://[::1]:6391", "::1", 6391)]
    [InlineData("::1", "::1", 6379)]
    public void Ipv6EndpointsAreUnderstood(string text, string host, int port)
    {
        var o = RedisOptions.Parse(text);
        Assert.Equal(host, o.Host);
        Assert.Equal(port, o.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("host:notaport")]
    [InlineData("host:70000")]
    [InlineData("a:1,b:2")]
    [InlineData("host,ssl=maybe")]
    [InlineData("host,connectTimeout=-5")]
    [InlineData("host,channelPrefix=x")]
    [InlineData("password=only")]
    [InlineData("redis://host/notadb")]
    public void MalformedConnectionStringsAreRejectedClearly(string text)
    {
        var ex = Record.Exception(() => RedisOptions.Parse(text));
        Assert.True(ex is FormatException or ArgumentException, ex?.ToString());
    }

    [Fact]
    public void ErrorsAndToStringNeverRevealThePassword()
    {
        var ex = Assert.Throws<FormatException>(() => RedisOptions.Parse("host:1,password=TopSecret,bogus=TopSecret2"));
        Assert.DoesNotContain("TopSecret", ex.Message);
        Assert.Contains("bogus", ex.Message);
        var o = RedisOptions.Parse("host:1,password=TopSecret");
        Assert.DoesNotContain("TopSecret", o.ToString());
        Assert.Contains("host:1", o.ToString());
    }

    [Fact]
    public void ValidateReportsEveryProblemAtOnce()
    {
        var o = new RedisOptions { Host = "", Port = 0, Database = -1, CommandTimeout = TimeSpan.Zero };
        var ex = Assert.Throws<ArgumentException>(o.Validate);
        Assert.Contains("Host", ex.Message);
        Assert.Contains("Port", ex.Message);
        Assert.Contains("Database", ex.Message);
        Assert.Contains("CommandTimeout", ex.Message);
    }
}

using System.Net;
using LlmSecOps.Geo.ClientIdentity;
using LlmSecOps.Geo.Lookup;

namespace LlmSecOps.Geo.Tests.ClientIdentity;

public sealed class ClientIdentityResolverTests
{
    // 1.0.0.0/24 -> AU, 2.0.0.0/8 -> FR, 2001:db8::/32 -> NL (synthetic, so expectations are exact).
    private static readonly GeoIpDatabase Database = GeoIpDatabase.Load(
        new StringReader("16777216,16777471,AU\n33554432,50331647,FR\n"),
        new StringReader("2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,NL\n"));

    private static ClientIdentityResolver Resolver(params string[] trusted) =>
        new(new TrustedProxyOptions { TrustedNetworks = [.. trusted], CountryHeader = "CF-IPCountry" }, Database);

    [Theory]
    // No trusted proxies: the TCP peer is the client whatever the headers say.
    [InlineData("", "2.2.2.2", "1.0.0.9", null, "2.2.2.2")]
    // Peer is not trusted: its X-Forwarded-For is a forgery.
    [InlineData("10.0.0.0/8", "2.2.2.2", "1.0.0.9", null, "2.2.2.2")]
    // One trusted proxy: the entry it appended is the client.
    [InlineData("10.0.0.0/8", "10.0.0.1", "2.2.2.2", null, "2.2.2.2")]
    // A client forges entries on the left; the proxy appends the real address on the right.
    [InlineData("10.0.0.0/8", "10.0.0.1", "1.0.0.9, 127.0.0.1, 2.2.2.2", null, "2.2.2.2")]
    // Two trusted proxies in a row.
    [InlineData("10.0.0.0/8", "10.0.0.1", "1.0.0.9, 2.2.2.2, 10.0.0.2", null, "2.2.2.2")]
    // Several headers are one list, in order.
    [InlineData("10.0.0.0/8", "10.0.0.1", "1.0.0.9", "2.2.2.2, 10.0.0.7", "2.2.2.2")]
    // Entry with a port, bracketed IPv6 with a port, IPv4-mapped IPv6.
    [InlineData("10.0.0.0/8", "10.0.0.1", "2.2.2.2:5555", null, "2.2.2.2")]
    [InlineData("10.0.0.0/8", "10.0.0.1", "[2001:db8::5]:443", null, "2001:db8::5")]
    [InlineData("10.0.0.0/8", "10.0.0.1", "::ffff:2.2.2.2", null, "2.2.2.2")]
    [InlineData("10.0.0.0/8", "::ffff:10.0.0.1", "2.2.2.2", null, "2.2.2.2")]
    // Garbage stops the walk at the last trusted hop.
    [InlineData("10.0.0.0/8", "10.0.0.1", "2.2.2.2, unknown", null, "10.0.0.1")]
    [InlineData("10.0.0.0/8", "10.0.0.1", "2.2.2.2, 10.0.0.3, not-an-ip", null, "10.0.0.1")]
    [InlineData("10.0.0.0/8", "10.0.0.1", "fe80::1%eth0", null, "10.0.0.1")]
    // Empty entries are skipped.
    [InlineData("10.0.0.0/8", "10.0.0.1", " , 2.2.2.2 ,, ", null, "2.2.2.2")]
    // IPv6 proxies.
    [InlineData("fd00::/8", "fd00::1", "2001:db8::9", null, "2001:db8::9")]
    public void TheClientIsTheFirstUntrustedHopFromTheRight(string trusted, string peer, string header1, string? header2, string expected)
    {
        var resolver = Resolver(trusted.Length == 0 ? [] : trusted.Split(' '));
        var headers = header2 is null ? new[] { header1 } : new[] { header1, header2 };

        var identity = resolver.Resolve(IPAddress.Parse(peer), headers, null);

        Assert.Equal(IPAddress.Parse(expected), identity.ClientIp);
    }

    [Fact]
    public void NullHeaderValuesAsAspNetCoreMayHandThemOverAreSkipped()
    {
        var identity = Resolver("10.0.0.0/8").Resolve(IPAddress.Parse("10.0.0.1"), new string?[] { "1.0.0.9", null }, null);

        Assert.Equal(IPAddress.Parse("1.0.0.9"), identity.ClientIp);
        Assert.Equal("AU", identity.Country);
    }

    [Fact]
    public void TheWalkStopsAfterTheConfiguredNumberOfEntries()
    {
        var resolver = new ClientIdentityResolver(new TrustedProxyOptions { TrustedNetworks = ["10.0.0.0/8"], MaxForwardedEntries = 3 }, Database);
        var header = "2.2.2.2, " + string.Join(", ", Enumerable.Range(1, 10).Select(i => $"10.0.0.{i}"));

        var identity = resolver.Resolve(IPAddress.Parse("10.0.0.100"), [header], null);

        Assert.True(resolver.IsTrusted(identity.ClientIp));
        Assert.NotEqual(IPAddress.Parse("2.2.2.2"), identity.ClientIp);
    }

    [Theory]
    [InlineData("10.0.0.1", "1.0.0.9", "DE", "DE", CountrySource.EdgeHeader)]
    [InlineData("10.0.0.1", "1.0.0.9", "uk", "GB", CountrySource.EdgeHeader)]
    [InlineData("10.0.0.1", "1.0.0.9", "XX", "AU", CountrySource.Database)]
    [InlineData("10.0.0.1", "1.0.0.9", "T1", "AU", CountrySource.Database)]
    [InlineData("10.0.0.1", "1.0.0.9", "Deutschland", "AU", CountrySource.Database)]
    [InlineData("10.0.0.1", "1.0.0.9", null, "AU", CountrySource.Database)]
    [InlineData("2.9.9.9", "1.0.0.9", "DE", "FR", CountrySource.Database)]
    [InlineData("10.0.0.1", "192.168.0.1", null, "", CountrySource.None)]
    [InlineData("10.0.0.1", "2001:db8::1", null, "NL", CountrySource.Database)]
    public void TheEdgeCountryIsBelievedOnlyFromATrustedProxy(string peer, string forwarded, string? edge, string country, CountrySource source)
    {
        var identity = Resolver("10.0.0.0/8").Resolve(IPAddress.Parse(peer), [forwarded], edge);

        Assert.Equal(country, identity.Country);
        Assert.Equal(source, identity.CountrySource);
    }

    [Theory]
    [InlineData("0.0.0.0/0")]
    [InlineData("::/0")]
    [InlineData("10.0.0.1/8")]
    [InlineData("nonsense")]
    [InlineData("10.0.0.0/33")]
    public void DangerousOrMalformedTrustedNetworksAreRejectedAtStartUp(string network)
    {
        var options = new TrustedProxyOptions { TrustedNetworks = [network] };

        Assert.NotEmpty(options.Validate());
        Assert.Throws<ArgumentException>(() => new ClientIdentityResolver(options, Database));
    }

    [Fact]
    public void EveryOptionsErrorIsReportedAtOnce()
    {
        var options = new TrustedProxyOptions { TrustedNetworks = ["bad", "0.0.0.0/0"], MaxForwardedEntries = 0, CountryHeader = "" };

        Assert.Equal(4, options.Validate().Count);
    }

    [Fact]
    public void HostileForwardedForHeadersNeverThrowAndNeverYieldATrustedClientFromAnUntrustedPeer()
    {
        var resolver = Resolver("10.0.0.0/8");
        var random = new Random(5);
        const string alphabet = "0123456789.:,[]% abcdef-unknown";
        for (var i = 0; i < 20_000; i++)
        {
            var header = new string(Enumerable.Range(0, random.Next(0, 80)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var peer = random.Next(2) == 0 ? IPAddress.Parse("10.1.1.1") : IPAddress.Parse("2.3.4.5");

            var identity = resolver.Resolve(peer, [header], "DE");

            if (!resolver.IsTrusted(peer))
            {
                Assert.Equal(peer, identity.ClientIp);
                Assert.Equal("FR", identity.Country);
            }
        }
    }
}

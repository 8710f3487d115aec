using LlmSecOps.AnomalyScorer.Geography;

namespace LlmSecOps.AnomalyScorer.Tests.Geography;

public sealed class CountryCentroidsTests
{
    [Fact]
    public void TheEmbeddedTableCoversTheIsoCountries()
    {
        Assert.True(CountryCentroids.Count >= 240, $"{CountryCentroids.Count} countries");
        Assert.True(CountryCentroids.TryGet("DE", out var lat, out var lon));
        Assert.Equal(51.165691, lat, 6);
        Assert.Equal(10.451526, lon, 6);
        Assert.False(CountryCentroids.TryGet("ZZ", out _, out _));
        Assert.False(CountryCentroids.TryGet("", out _, out _));
    }

    [Fact]
    public void HaversineDistanceMatchesKnownValues()
    {
        // one degree of longitude on the equator = 2 pi R / 360 = 111.195 km
        Assert.Equal(111.195, CountryCentroids.Haversine(0, 0, 0, 1), 2);
        // antipodes: half the circumference
        Assert.Equal(Math.PI * CountryCentroids.EarthRadiusKm, CountryCentroids.Haversine(0, 0, 0, 180), 3);
        // Germany to the US centroid is about 7,700 km
        var d = CountryCentroids.DistanceKm("DE", "US")!.Value;
        Assert.InRange(d, 7500, 8000);
        Assert.Null(CountryCentroids.DistanceKm("DE", "ZZ"));
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.200", true)]
    [InlineData("203.0.113.7", "203.0.114.7", false)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:ffff::9", true)]
    [InlineData("2001:db8:1::1", "2001:db8:2::1", false)]
    [InlineData("::ffff:203.0.113.7", "203.0.113.9", true)]
    public void NetworkPrefixGroupsAddressesBySlash24AndSlash48(string a, string b, bool same)
    {
        Assert.Equal(same, NetworkPrefix.FromAddress(a) == NetworkPrefix.FromAddress(b));
        Assert.NotEqual(0UL, NetworkPrefix.FromAddress(a));
    }

    [Fact]
    public void MalformedAddressesHaveNoNetwork()
    {
        Assert.Equal(0UL, NetworkPrefix.FromAddress(""));
        Assert.Equal(0UL, NetworkPrefix.FromAddress("not-an-ip"));
    }
}

using System.Diagnostics;
using System.Net;
using LlmSecOps.Geo.Lookup;
using Xunit.Abstractions;

namespace LlmSecOps.Geo.Tests.Lookup;

/// <summary>Loads Debian's tor-geoipdb once for the class (about a third of a second).</summary>
public sealed class RealDatabaseFixture
{
    public RealDatabaseFixture()
    {
        if (!File.Exists(GeoIpDatabase.DefaultIpv4Path) || !File.Exists(GeoIpDatabase.DefaultIpv6Path))
        {
            throw new InvalidOperationException(
                $"{GeoIpDatabase.DefaultIpv4Path} is missing: install the range database with `apt-get install -y tor-geoipdb`.");
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var stopwatch = Stopwatch.StartNew();
        Database = GeoIpDatabase.LoadDefault();
        LoadTime = stopwatch.Elapsed;
        AllocatedWhileLoading = GC.GetAllocatedBytesForCurrentThread() - before;
        V4Rows = ReadRows(GeoIpDatabase.DefaultIpv4Path);
        V6Rows = ReadRows(GeoIpDatabase.DefaultIpv6Path);
    }

    public GeoIpDatabase Database { get; }

    public TimeSpan LoadTime { get; }

    public long AllocatedWhileLoading { get; }

    public IReadOnlyList<string[]> V4Rows { get; }

    public IReadOnlyList<string[]> V6Rows { get; }

    private static List<string[]> ReadRows(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(',')).ToList();
}

public sealed class GeoIpDatabaseTests(RealDatabaseFixture fixture, ITestOutputHelper output) : IClassFixture<RealDatabaseFixture>
{
    private static string Expected(string code) => code switch
    {
        "UK" => "GB",
        "??" or "EU" or "AP" or "AN" or "CS" => "",
        _ => code,
    };

    [Fact]
    public void EverySampledIpv4RowResolvesAtItsLowHighAndMiddleAddress()
    {
        var rows = fixture.V4Rows;
        var checkedRows = 0;
        for (var i = 0; i < rows.Count; i += 97)
        {
            var low = uint.Parse(rows[i][0]);
            var high = uint.Parse(rows[i][1]);
            var expected = Expected(rows[i][2]);
            foreach (var address in new[] { low, high, low + ((high - low) / 2) })
            {
                Assert.Equal(expected, fixture.Database.Lookup(address));
                Assert.Equal(expected, fixture.Database.Lookup(new IPAddress(BitConverter.IsLittleEndian ? System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(address) : address)));
            }

            checkedRows++;
        }

        Assert.True(checkedRows > 3000, $"checked {checkedRows} rows");
    }

    [Fact]
    public void EverySampledIpv6RowResolvesAtItsLowAndHighAddress()
    {
        var rows = fixture.V6Rows;
        var checkedRows = 0;
        for (var i = 0; i < rows.Count; i += 89)
        {
            var expected = Expected(rows[i][2]);
            Assert.Equal(expected, fixture.Database.Lookup(IPAddress.Parse(rows[i][0])));
            Assert.Equal(expected, fixture.Database.Lookup(IPAddress.Parse(rows[i][1])));
            checkedRows++;
        }

        Assert.True(checkedRows > 3000, $"checked {checkedRows} rows");
    }

    [Fact]
    public void AddressesJustOutsideARangeBelongToTheNeighbourOrToNobody()
    {
        var rows = fixture.V4Rows;
        for (var i = 1; i < rows.Count - 1; i += 211)
        {
            var low = uint.Parse(rows[i][0]);
            var previousHigh = uint.Parse(rows[i - 1][1]);
            var expectedBefore = previousHigh == low - 1 ? Expected(rows[i - 1][2]) : "";
            Assert.Equal(expectedBefore, fixture.Database.Lookup(low - 1));
        }
    }

    [Fact]
    public void IsoCodesAreMappedAsDocumented()
    {
        var uk = fixture.V4Rows.First(r => r[2] == "UK");
        var eu = fixture.V4Rows.First(r => r[2] == "EU");

        Assert.Equal("GB", fixture.Database.Lookup(uint.Parse(uk[0])));
        Assert.Equal("", fixture.Database.Lookup(uint.Parse(eu[0])));
    }

    [Fact]
    public void AnIpv4MappedIpv6AddressResolvesLikeItsIpv4Address()
    {
        var row = fixture.V4Rows[fixture.V4Rows.Count / 2];
        var v4 = new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(uint.Parse(row[0])));

        Assert.NotEqual("", Expected(row[2]));
        Assert.Equal(Expected(row[2]), fixture.Database.Lookup(v4.MapToIPv6()));
        Assert.Equal(fixture.Database.Lookup(v4), fixture.Database.Lookup(IPAddress.Parse("::ffff:" + v4)));
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("127.0.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("192.168.1.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    public void PrivateLoopbackAndEdgeAddressesAreUnknown(string address)
    {
        Assert.Equal("", fixture.Database.Lookup(IPAddress.Parse(address)));
    }

    [Fact]
    public void TheDatabaseIsCompactAndLoadsQuickly()
    {
        var db = fixture.Database;
        output.WriteLine($"IPv4: {db.Ipv4SourceRanges} source ranges -> {db.Ipv4Entries} entries; IPv6: {db.Ipv6SourceRanges} -> {db.Ipv6Entries} entries");
        output.WriteLine($"payload {db.PayloadBytes / 1024.0 / 1024.0:F2} MiB; load {fixture.LoadTime.TotalMilliseconds:F0} ms; allocated while loading {fixture.AllocatedWhileLoading / 1024.0 / 1024.0:F1} MiB");

        Assert.True(db.Ipv4SourceRanges > 300_000);
        Assert.True(db.Ipv6SourceRanges > 200_000);

        // Starts + 2-byte codes, at most one gap entry per source range: (4+2) and (16+2) bytes per entry.
        Assert.True(db.PayloadBytes <= (2L * db.Ipv4SourceRanges * 6) + (2L * db.Ipv6SourceRanges * 18) + 64);
        Assert.True(fixture.LoadTime < TimeSpan.FromSeconds(30), $"load took {fixture.LoadTime}");
    }
}

public sealed class SyntheticDatabaseTests
{
    private static GeoIpDatabase Load(string v4, string v6 = "") => GeoIpDatabase.Load(new StringReader(v4), new StringReader(v6));

    [Theory]
    [InlineData(0u, "")]
    [InlineData(99u, "")]
    [InlineData(100u, "DE")]
    [InlineData(150u, "DE")]
    [InlineData(199u, "DE")]
    [InlineData(200u, "")]
    [InlineData(299u, "")]
    [InlineData(300u, "GB")]
    [InlineData(400u, "GB")]
    [InlineData(401u, "FR")]
    [InlineData(500u, "FR")]
    [InlineData(501u, "")]
    [InlineData(600u, "")]
    [InlineData(uint.MaxValue, "US")]
    [InlineData(uint.MaxValue - 10, "US")]
    [InlineData(uint.MaxValue - 11, "")]
    public void GapsAreUnknownAndRangesAreInclusive(uint address, string expected)
    {
        var db = Load("""
            # comment

            100,199,DE
            300,400,UK
            401,500,fr
            600,600,EU
            4294967285,4294967295,US
            """);

        Assert.Equal(expected, db.Lookup(address));
    }

    [Fact]
    public void UnsortedAndOverlappingInputIsSortedAndTheEarlierRangeKeepsTheOverlap()
    {
        var db = Load("""
            500,600,FR
            100,300,DE
            250,400,IT
            """);

        Assert.Equal("DE", db.Lookup(250u));
        Assert.Equal("DE", db.Lookup(300u));
        Assert.Equal("IT", db.Lookup(301u));
        Assert.Equal("IT", db.Lookup(400u));
        Assert.Equal("", db.Lookup(401u));
        Assert.Equal("FR", db.Lookup(550u));
    }

    [Fact]
    public void AdjacentRangesOfOneCountryAreMerged()
    {
        var db = Load("""
            0,99,JP
            100,199,JP
            200,299,JP
            """);

        Assert.Equal(2, db.Ipv4Entries);
        Assert.Equal("JP", db.Lookup(150u));
        Assert.Equal("", db.Lookup(300u));
    }

    [Fact]
    public void Ipv6RangesAreLookedUpWith128BitStarts()
    {
        var db = Load("", """
            2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,NL
            2a00::,2a00:ffff:ffff:ffff:ffff:ffff:ffff:ffff,SE
            """);

        Assert.Equal("NL", db.Lookup(IPAddress.Parse("2001:db8::1")));
        Assert.Equal("NL", db.Lookup(IPAddress.Parse("2001:db8:0:ffff::")));
        Assert.Equal("", db.Lookup(IPAddress.Parse("2001:db8:1::")));
        Assert.Equal("SE", db.Lookup(IPAddress.Parse("2a00:1234::5")));
        Assert.Equal("", db.Lookup(IPAddress.Parse("2a01::")));
        Assert.Equal("", db.Lookup(IPAddress.Parse("1.2.3.4")));
    }

    [Theory]
    [InlineData("100,DE")]
    [InlineData("x,200,DE")]
    [InlineData("300,200,DE")]
    [InlineData("100,4294967296,DE")]
    [InlineData("-1,5,DE")]
    public void AMalformedLineFailsLoudlyWithItsLineNumber(string line)
    {
        var ex = Assert.Throws<InvalidDataException>(() => Load("1,2,DE\n" + line));

        Assert.Contains("geoip:2", ex.Message);
    }

    [Theory]
    [InlineData("UK", "GB")]
    [InlineData("gb", "GB")]
    [InlineData("??", "")]
    [InlineData("EU", "")]
    [InlineData("AP", "")]
    [InlineData("AN", "")]
    [InlineData("CS", "")]
    [InlineData("XX", "")]
    [InlineData("T1", "")]
    [InlineData("A1", "")]
    [InlineData("USA", "")]
    [InlineData("", "")]
    [InlineData("D", "")]
    [InlineData("DE", "DE")]
    public void CountryCodesAreNormalisedToIso(string code, string expected)
    {
        Assert.Equal(expected, CountryCodes.Normalize(code));
    }

    [Fact]
    public void TheEmptyDatabaseKnowsNothing()
    {
        Assert.Equal("", GeoIpDatabase.Empty.Lookup(IPAddress.Parse("8.8.8.8")));
        Assert.Equal("", GeoIpDatabase.Empty.Lookup(IPAddress.Parse("2001:4860::8888")));
    }
}

public sealed class GeoOptionsTests
{
    [Fact]
    public void AMissingRequiredDatabaseStopsStartUpWithTheInstallCommand()
    {
        var options = new GeoOptions { Ipv4Path = "/nonexistent/geoip", Ipv6Path = "/nonexistent/geoip6" };

        var errors = options.Validate();

        Assert.Equal(2, errors.Count);
        Assert.Contains("apt-get install -y tor-geoipdb", errors[0]);
        Assert.Throws<InvalidOperationException>(options.Load);
    }

    [Fact]
    public void AnOptionalMissingDatabaseLoadsEmpty()
    {
        var db = new GeoOptions { Ipv4Path = "/nonexistent/geoip", Required = false }.Load();

        Assert.Same(GeoIpDatabase.Empty, db);
    }

    [Fact]
    public void AnIpv4OnlyDatabaseCanBeConfigured()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "16777216,16777471,AU\n");
            var db = new GeoOptions { Ipv4Path = path, Ipv6Path = "" }.Load();

            Assert.Equal("AU", db.Lookup(System.Net.IPAddress.Parse("1.0.0.1")));
            Assert.Equal(0, db.Ipv6SourceRanges);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

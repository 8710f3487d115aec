using System.Text;
using System.Text.RegularExpressions;
using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.Contracts.Tests.Keys;

public class ApiKeyTests
{
    private const string TestVector = "lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz";

    [Fact]
    public void ArchitectureTestVectorHasTheDocumentedChecksum()
    {
        Assert.Equal(4102231425u, Crc32.ComputeAscii(TestVector.AsSpan(0, TestVector.Length - 6)));
        Assert.True(ApiKey.TryParse(TestVector, out var parts));
        Assert.Equal("000000000001", parts.IdString(TestVector));
        Assert.Equal(KeyEnvironment.Live, parts.Environment);
    }

    [Fact]
    public void Crc32MatchesTheZlibCheckValue()
    {
        // The standard check value of CRC-32/ISO-HDLC (zlib): "123456789" -> 0xCBF43926.
        Assert.Equal(0xCBF43926u, Crc32.Compute(Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact]
    public void ComposedKeysMatchTheDocumentedRegexAndVerify()
    {
        var regex = new Regex(ApiKey.Pattern);
        for (var i = 0; i < 200; i++)
        {
            var key = ApiKey.Create(i % 2 == 0 ? KeyEnvironment.Live : KeyEnvironment.Test);
            Assert.Matches(regex, key);
            Assert.True(ApiKey.IsValid(key));
            Assert.Equal(ApiKey.Length, key.Length);
        }
    }

    [Fact]
    public void EveryOneCharacterChangeIsRejected()
    {
        var key = ApiKey.Compose(KeyEnvironment.Test, "AbCdEfGhIjKl", "0123456789abcdefghijABCDEFGHIJKL");
        for (var i = 0; i < key.Length; i++)
        {
            var chars = key.ToCharArray();
            chars[i] = chars[i] == 'x' ? 'y' : 'x';
            Assert.False(ApiKey.IsValid(new string(chars)), $"changed at {i}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXm")]
    [InlineData("lso_prod_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz")]
    [InlineData("lso_live_00000000000!_0123456789abcdefghijABCDEFGHIJKL4TcXmz")]
    [InlineData("LSO_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz")]
    [InlineData("lso_live-000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz")]
    [InlineData("lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmzz")]
    public void MalformedKeysAreRejected(string text) => Assert.False(ApiKey.IsValid(text));

    [Fact]
    public void TokenHashIsLowercaseHexSha256OfTheWholeKey()
    {
        var hash = ApiKey.TokenHash(TestVector);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(TestVector))), hash);
        Assert.Equal(64, hash.Length);
    }

    [Fact]
    public void Base62RoundTripsAndPads()
    {
        Span<char> buffer = stackalloc char[6];
        Base62.Encode(0, buffer);
        Assert.Equal("000000", buffer.ToString());
        Base62.Encode(uint.MaxValue, buffer);
        Assert.True(Base62.TryDecode(buffer, out var value));
        Assert.Equal(uint.MaxValue, value);
    }
}

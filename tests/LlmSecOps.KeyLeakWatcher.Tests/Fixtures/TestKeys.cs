using LlmSecOps.Contracts.Keys;

namespace LlmSecOps.KeyLeakWatcher.Tests.Fixtures;

/// <summary>Valid keys and look-alikes that a scanner must not report.</summary>
internal static class TestKeys
{
    /// <summary>The test vector of ARCHITECTURE.md.</summary>
    public const string Vector = "lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz";

    public static string New() => ApiKey.Create();

    /// <summary>Right shape, wrong checksum (last char changed).</summary>
    public static string BadChecksum()
    {
        var key = ApiKey.Create();
        var last = key[^1] == 'a' ? 'b' : 'a';
        var lookAlike = key[..^1] + last;
        Assert.False(ApiKey.IsValid(lookAlike));
        return lookAlike;
    }

    /// <summary>Right shape and the checksum of another key (a secret character changed).</summary>
    public static string TamperedSecret()
    {
        var key = ApiKey.Create();
        var chars = key.ToCharArray();
        chars[30] = chars[30] == 'Z' ? 'Y' : 'Z';
        var lookAlike = new string(chars);
        Assert.False(ApiKey.IsValid(lookAlike));
        return lookAlike;
    }
}

using LlmSecOps.ServiceDefaults.Telemetry;

namespace LlmSecOps.ServiceDefaults.Tests.Telemetry;

public sealed class SecretScrubbingTests
{
    [Theory]
    [InlineData("POST /v1/lso_live_4Fh2kLmN9pQr_Zx8Yc7Vb6Na5Ms4Ld3Kf2Jg1Hh0AbC/chat/completions", "POST /v1/lso_live_4Fh2kLmN9pQr_***/chat/completions")]
    [InlineData("a=lso_test_abcd1234EFGH_0123456789abcdefXYZ&b=lso_live_ZZZZyyyy0000_qwertyuiopASDFGHJK9", "a=lso_test_abcd1234EFGH_***&b=lso_live_ZZZZyyyy0000_***")]
    public void TheSecretPartOfEveryKeyShapedTokenIsMaskedAndItsIdKept(string input, string expected) =>
        Assert.Equal(expected, SecretScrubbing.Scrub(input));

    [Theory]
    [InlineData("POST /v1/chat/completions")]
    [InlineData("lso_ alone, lso_prod_x_y, lso_live_id_short")]
    public void TextWithoutAKeyIsReturnedAsTheSameInstance(string input) =>
        Assert.Same(input, SecretScrubbing.Scrub(input));
}

namespace LlmSecOps.Redis.Tests;

/// <summary>Generous per-test bounds: a hang fails the one test instead of stalling the suite.</summary>
internal static class TestTimeouts
{
    /// <summary>Ordinary tests.</summary>
    public const int Test = 30_000;

    /// <summary>Tests that kill and restart servers under load.</summary>
    public const int Resilience = 90_000;
}

using System.Globalization;

namespace LlmSecOps.AnomalyScorer.Tests.Detection;

/// <summary>Reads the ML.NET baseline extracts committed under Detection/Baselines.</summary>
internal static class MlNetBaseline
{
    public static IReadOnlyList<double[]> Read(string fileName)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Detection", "Baselines", fileName);
        return File.ReadLines(path)
            .Where(line => line.Length > 0 && line[0] != '#')
            .Select(line => line.Split('\t').Select(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray())
            .ToList();
    }

    /// <summary>Asserts that <paramref name="actual"/> printed as R4 by ML.NET would read <paramref name="expected"/>.</summary>
    public static void AssertR4(double expected, double actual, double relative, string what)
    {
        // Below float's smallest normal number ML.NET's R4 output keeps only a few bits: compare absolutely there.
        var tolerance = Math.Abs(expected) < 1.2e-38 ? 1e-44 : Math.Max(Math.Abs(expected) * relative, 1e-12);
        Assert.True(
            Math.Abs(expected - actual) <= tolerance,
            FormattableString.Invariant($"{what}: expected {expected:R}, got {actual:R} (tolerance {tolerance:G3})"));
    }
}

using LlmSecOps.AnomalyScorer.Detection.Iid;

namespace LlmSecOps.AnomalyScorer.Tests.Detection;

/// <summary>
/// Our IID detectors against ML.NET's own committed test baselines (same inputs, same parameters); see the header
/// of each file under Detection/Baselines for the exact source.
/// </summary>
public sealed class IidDetectorBaselineTests
{
    [Fact]
    public void SpikeDetectorReproducesMlNetSavePipeIidSpikeBaselineOnBothSides()
    {
        var rows = MlNetBaseline.Read("IidSpike-real_1.tsv");
        var positive = new IidSpikeDetector(confidence: 99.5, pvalueHistoryLength: 200, AnomalySide.Positive);
        var negative = new IidSpikeDetector(confidence: 99.5, pvalueHistoryLength: 200, AnomalySide.Negative);

        for (var i = 0; i < rows.Count; i++)
        {
            var value = (float)rows[i][0];
            var pos = positive.Process(value);
            var neg = negative.Process(value);

            Assert.False(pos.Alert, $"row {i}: positive side must not alert");
            Assert.False(neg.Alert, $"row {i}: negative side must not alert");
            Assert.Equal(value, pos.RawScore);
            MlNetBaseline.AssertR4(rows[i][1], pos.PValue, 2e-6, $"row {i} positive p-value");
            MlNetBaseline.AssertR4(rows[i][2], neg.PValue, 2e-6, $"row {i} negative p-value");
        }
    }

    [Fact]
    public void ChangePointDetectorReproducesMlNetSavePipeIidChangePointBaselineForPowerAndMixtureMartingales()
    {
        var rows = MlNetBaseline.Read("IidChangePoint-real_11.tsv");
        var power = new IidChangePointDetector(confidence: 83, changeHistoryLength: 100, MartingaleType.Power, powerEpsilon: 0.1);
        var mixture = new IidChangePointDetector(confidence: 83, changeHistoryLength: 100, MartingaleType.Mixture);
        var alerts = new List<int>();

        for (var i = 0; i < rows.Count; i++)
        {
            var value = (float)rows[i][0];
            var p = power.Process(value);
            var m = mixture.Process(value);

            Assert.Equal(rows[i][1] == 1, p.Alert);
            Assert.Equal(rows[i][4] == 1, m.Alert);
            MlNetBaseline.AssertR4(rows[i][2], p.PValue, 2e-6, $"row {i} p-value (power)");
            MlNetBaseline.AssertR4(rows[i][2], m.PValue, 2e-6, $"row {i} p-value (mixture)");
            MlNetBaseline.AssertR4(rows[i][3], p.Martingale, 1e-4, $"row {i} power martingale");
            MlNetBaseline.AssertR4(rows[i][5], m.Martingale, 1e-4, $"row {i} mixture martingale");
            if (p.Alert)
            {
                alerts.Add(i);
            }
        }

        // The baseline alerts exactly when each window fills (rows 99 and 199), then the cool-down holds.
        Assert.Equal([99, 199], alerts);
    }

    [Fact]
    public void ChangePointThresholdIsTheWindowedBettingValueAtOneMinusConfidence()
    {
        var power = new IidChangePointDetector(83, 100, MartingaleType.Power, 0.1);
        var expected = Math.Exp(100 * (Math.Log(0.1) + (-0.9 * Math.Log(0.17))));
        Assert.Equal(expected, power.Threshold, expected * 1e-12);
    }
}

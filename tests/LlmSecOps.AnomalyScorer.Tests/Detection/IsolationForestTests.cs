using LlmSecOps.AnomalyScorer.Detection.Population;

namespace LlmSecOps.AnomalyScorer.Tests.Detection;

public sealed class IsolationForestTests
{
    [Fact]
    public void AveragePathLengthFollowsLiuTingZhou()
    {
        // c(256) = 2 H(255) - 2 * 255 / 256 with H(255) = 6.12031...: 12.24062 - 1.99219 = 10.24844
        Assert.Equal(10.24869, IsolationForest.AveragePathLength(256), 4);
        Assert.Equal(1, IsolationForest.AveragePathLength(2));
        Assert.Equal(0, IsolationForest.AveragePathLength(1));
    }

    [Fact]
    public void AnIsolatedPointScoresHigherThanPointsInsideTheCluster()
    {
        var random = new Random(5);
        var data = Enumerable.Range(0, 500).Select(_ => new[] { random.NextDouble(), random.NextDouble(), random.NextDouble() }).ToList();
        var forest = IsolationForest.Train(data, trees: 100, sampleSize: 256, seed: 3);

        var inlier = forest.Score([0.5, 0.5, 0.5]);
        var outlier = forest.Score([4.0, -3.0, 5.0]);

        Assert.True(outlier > 0.6, $"outlier {outlier}");
        Assert.True(inlier < 0.5, $"inlier {inlier}");
    }

    [Fact]
    public void TrainingIsDeterministicForASeed()
    {
        var random = new Random(1);
        var data = Enumerable.Range(0, 300).Select(_ => new[] { random.NextDouble(), random.NextDouble() }).ToList();
        var a = IsolationForest.Train(data, 50, 128, 9).Score([0.9, 0.1]);
        var b = IsolationForest.Train(data, 50, 128, 9).Score([0.9, 0.1]);
        Assert.Equal(a, b);
    }
}

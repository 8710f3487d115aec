namespace LlmSecOps.AnomalyScorer.Detection.Population;

/// <summary>
/// Isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008): trees grown on random subsamples by random
/// axis-parallel splits; points that isolate in few splits are outliers. Score s(x) = 2^(-E[h(x)] / c(ψ)), where
/// c(n) = 2H(n-1) - 2(n-1)/n is the average path length of an unsuccessful BST search; s near 1 is anomalous, well
/// under 0.5 is normal. Trees are flat arrays; training and scoring are deterministic for a given seed.
/// </summary>
public sealed class IsolationForest
{
    private readonly Tree[] _trees;
    private readonly double _normalizer;

    private IsolationForest(Tree[] trees, int sampleSize)
    {
        _trees = trees;
        _normalizer = AveragePathLength(sampleSize);
    }

    /// <summary>Number of features each vector must have.</summary>
    public int Dimensions { get; private init; }

    /// <summary>Trains a forest on <paramref name="data"/> (rows are feature vectors).</summary>
    public static IsolationForest Train(IReadOnlyList<double[]> data, int trees = 100, int sampleSize = 256, int seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(data.Count, 2);
        var dims = data[0].Length;
        var random = new Random(seed);
        var psi = Math.Min(sampleSize, data.Count);
        var heightLimit = (int)Math.Ceiling(Math.Log2(psi));
        var forest = new Tree[trees];
        var indices = new int[data.Count];
        for (var t = 0; t < trees; t++)
        {
            for (var i = 0; i < indices.Length; i++)
            {
                indices[i] = i;
            }

            // partial Fisher-Yates: the first psi entries are a uniform sample without replacement
            for (var i = 0; i < psi; i++)
            {
                var j = random.Next(i, indices.Length);
                (indices[i], indices[j]) = (indices[j], indices[i]);
            }

            var tree = new Tree(2 * psi);
            tree.Build(data, indices.AsSpan(0, psi).ToArray(), 0, heightLimit, dims, random);
            forest[t] = tree;
        }

        return new IsolationForest(forest, psi) { Dimensions = dims };
    }

    /// <summary>The anomaly score in (0, 1].</summary>
    public double Score(ReadOnlySpan<double> x)
    {
        if (x.Length != Dimensions)
        {
            throw new ArgumentException($"Expected {Dimensions} features, got {x.Length}.", nameof(x));
        }

        var total = 0.0;
        foreach (var tree in _trees)
        {
            total += tree.PathLength(x);
        }

        return Math.Pow(2, -(total / _trees.Length) / _normalizer);
    }

    /// <summary>c(n): the average path length of an unsuccessful search in a BST of n points.</summary>
    public static double AveragePathLength(int n)
    {
        if (n <= 1)
        {
            return 0;
        }

        if (n == 2)
        {
            return 1;
        }

        return (2 * MathNet.Numerics.SpecialFunctions.Harmonic(n - 1)) - (2.0 * (n - 1) / n);
    }

    private sealed class Tree(int capacity)
    {
        private readonly List<int> _feature = new(capacity);
        private readonly List<double> _split = new(capacity);
        private readonly List<int> _left = new(capacity);
        private readonly List<int> _right = new(capacity);
        private readonly List<int> _size = new(capacity);

        public int Build(IReadOnlyList<double[]> data, int[] rows, int depth, int heightLimit, int dims, Random random)
        {
            var node = _feature.Count;
            _feature.Add(-1);
            _split.Add(0);
            _left.Add(-1);
            _right.Add(-1);
            _size.Add(rows.Length);
            if (depth >= heightLimit || rows.Length <= 1)
            {
                return node;
            }

            // pick a feature that is not constant on these rows (give up after a few tries: the node is a leaf)
            for (var attempt = 0; attempt < dims * 2; attempt++)
            {
                var f = random.Next(dims);
                double min = double.MaxValue, max = double.MinValue;
                foreach (var r in rows)
                {
                    var v = data[r][f];
                    min = Math.Min(min, v);
                    max = Math.Max(max, v);
                }

                if (max <= min)
                {
                    continue;
                }

                var split = min + (random.NextDouble() * (max - min));
                var left = rows.Where(r => data[r][f] < split).ToArray();
                var right = rows.Where(r => data[r][f] >= split).ToArray();
                _feature[node] = f;
                _split[node] = split;
                var l = Build(data, left, depth + 1, heightLimit, dims, random);
                var rr = Build(data, right, depth + 1, heightLimit, dims, random);
                _left[node] = l;
                _right[node] = rr;
                return node;
            }

            return node;
        }

        public double PathLength(ReadOnlySpan<double> x)
        {
            var node = 0;
            var depth = 0;
            while (_feature[node] >= 0)
            {
                node = x[_feature[node]] < _split[node] ? _left[node] : _right[node];
                depth++;
            }

            return depth + AveragePathLength(_size[node]);
        }
    }
}

namespace LlmSecOps.Simulator.Generation;

/// <summary>Deterministic unit vectors: a function of (model, input text, dimensions).</summary>
public static class EmbeddingGenerator
{
    /// <summary>Writes the embedding of <paramref name="input"/> into <paramref name="vector"/> (its length is the dimension).</summary>
    public static void Embed(string model, string input, Span<float> vector)
    {
        var seed = SplitMix.Mix(Fnv.Hash(input.AsSpan(), Fnv.Hash(model.AsSpan(), Fnv.Offset)));
        double sumSquares = 0;
        for (var i = 0; i < vector.Length; i++)
        {
            // 53 random bits -> [-1, 1)
            var unit = (SplitMix.Mix(seed + (ulong)i) >> 11) * (1.0 / (1UL << 53));
            var value = (float)((unit * 2) - 1);
            vector[i] = value;
            sumSquares += value * (double)value;
        }

        var scale = sumSquares > 0 ? (float)(1 / Math.Sqrt(sumSquares)) : 0f;
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] *= scale;
        }
    }
}

namespace LlmSecOps.Simulator.Models;

/// <summary>What the simulator serves for one model. Immutable; the catalogue swaps whole instances.</summary>
/// <param name="Name">Canonical <c>name:tag</c>.</param>
/// <param name="Digest">64 lowercase hex characters (Ollama's <c>/api/tags</c> lists digests without the <c>sha256:</c> prefix).</param>
/// <param name="IsEmbedding">True for embedding-only models (they refuse chat and generate like Ollama does).</param>
/// <param name="Size">Size in bytes.</param>
/// <param name="Format">File format, e.g. <c>gguf</c>.</param>
/// <param name="Family">Family, e.g. <c>llama</c>.</param>
/// <param name="ParameterSize">E.g. <c>1.2B</c>.</param>
/// <param name="QuantizationLevel">E.g. <c>Q8_0</c>.</param>
/// <param name="ContextLength">Context length in tokens.</param>
/// <param name="EmbeddingLength">Embedding vector length.</param>
/// <param name="ModifiedAt">When the model was (simulated to be) pulled or created.</param>
public sealed record SimulatedModel(
    string Name,
    string Digest,
    bool IsEmbedding,
    long Size,
    string Format,
    string Family,
    string ParameterSize,
    string QuantizationLevel,
    int ContextLength,
    int EmbeddingLength,
    DateTimeOffset ModifiedAt)
{
    /// <summary>The digest as <c>sha256:&lt;hex&gt;</c>.</summary>
    public string PrefixedDigest => "sha256:" + Digest;

    internal static SimulatedModel FromOptions(ModelOptions options, DateTimeOffset modifiedAt)
    {
        var name = ModelNames.Normalize(options.Name);
        var digest = options.Digest is null ? ModelNames.SyntheticDigest(name) : ModelNames.TryNormalizeDigest(options.Digest)!;
        return new SimulatedModel(name, digest, options.Kind == "embedding", options.Size, options.Format, options.Family,
            options.ParameterSize, options.QuantizationLevel, options.ContextLength, options.EmbeddingLength, modifiedAt);
    }
}

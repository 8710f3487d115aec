using Microsoft.Extensions.Options;

namespace LlmSecOps.Simulator;

/// <summary>
/// Settings of the simulator (section <c>Simulator</c>). Every value here is also the value the runtime
/// switches (<see cref="State.SimulatorSwitches"/>) return to when they are reset.
/// </summary>
public sealed class SimulatorOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Simulator";

    /// <summary>
    /// The models the simulator serves (section <c>Simulator:Models</c>). Default: empty, which means the built-in
    /// catalogue (<c>llama3.2:1b</c>, <c>qwen2.5:0.5b</c>, <c>nomic-embed-text:latest</c>); a non-empty list
    /// replaces it entirely.
    /// </summary>
    public List<ModelOptions> Models { get; set; } = [];

    /// <summary>
    /// How many tokens a completion has when nothing limits it (the text then ends with <c>stop</c>).
    /// Default 24. Must be 1..1,000,000.
    /// </summary>
    public int CompletionTokens { get; set; } = 24;

    /// <summary>Tokens per second while generating; 0 = as fast as possible. Default 0.</summary>
    public double TokensPerSecond { get; set; }

    /// <summary>Delay before the first token (the "prompt evaluation" time), in milliseconds. Default 0.</summary>
    public int FirstTokenDelayMs { get; set; }

    /// <summary>Requests kept in the request log (a ring buffer); 0 turns the log off. Default 10,000.</summary>
    public int RequestLogCapacity { get; set; } = 10_000;

    /// <summary>Request body bytes kept as text with each logged request (the rest is cut). Default 65,536.</summary>
    public int RequestLogBodyBytes { get; set; } = 65_536;

    /// <summary>Version reported by <c>GET /api/version</c>. Default <c>0.12.6</c>.</summary>
    public string Version { get; set; } = "0.12.6";
}

/// <summary>One simulated model (an entry of <c>Simulator:Models</c>).</summary>
public sealed class ModelOptions
{
    /// <summary>Name, <c>name:tag</c>; a missing tag means <c>:latest</c>. Required.</summary>
    public string Name { get; set; } = "";

    /// <summary><c>sha256:&lt;64 hex&gt;</c> or 64 hex. Default: SHA-256 of the name (stable, synthetic).</summary>
    public string? Digest { get; set; }

    /// <summary><c>chat</c> (completion) or <c>embedding</c>. Default <c>chat</c>.</summary>
    public string Kind { get; set; } = "chat";

    /// <summary>Size in bytes reported by <c>/api/tags</c>. Default 1,000,000,000.</summary>
    public long Size { get; set; } = 1_000_000_000;

    /// <summary>Model family (e.g. <c>llama</c>). Default <c>llama</c>.</summary>
    public string Family { get; set; } = "llama";

    /// <summary>Parameter size as Ollama writes it (e.g. <c>1.2B</c>). Default <c>1.0B</c>.</summary>
    public string ParameterSize { get; set; } = "1.0B";

    /// <summary>Quantization level (e.g. <c>Q8_0</c>). Default <c>Q4_K_M</c>.</summary>
    public string QuantizationLevel { get; set; } = "Q4_K_M";

    /// <summary>File format. Default <c>gguf</c>.</summary>
    public string Format { get; set; } = "gguf";

    /// <summary>Context length reported by <c>/api/show</c> and <c>/api/ps</c>. Default 4096.</summary>
    public int ContextLength { get; set; } = 4096;

    /// <summary>Embedding vector length (also reported for chat models). Default 768.</summary>
    public int EmbeddingLength { get; set; } = 768;
}

/// <summary>Reports every problem of <see cref="SimulatorOptions"/> at once.</summary>
internal sealed class SimulatorOptionsValidator : IValidateOptions<SimulatorOptions>
{
    public ValidateOptionsResult Validate(string? name, SimulatorOptions options)
    {
        var errors = new List<string>();
        if (options.CompletionTokens is < 1 or > 1_000_000)
        {
            errors.Add($"Simulator:CompletionTokens must be 1..1000000 (got {options.CompletionTokens}).");
        }

        if (options.TokensPerSecond < 0 || double.IsNaN(options.TokensPerSecond))
        {
            errors.Add($"Simulator:TokensPerSecond must be >= 0, 0 meaning as fast as possible (got {options.TokensPerSecond}).");
        }

        if (options.FirstTokenDelayMs < 0)
        {
            errors.Add($"Simulator:FirstTokenDelayMs must be >= 0 (got {options.FirstTokenDelayMs}).");
        }

        if (options.RequestLogCapacity is < 0 or > 10_000_000)
        {
            errors.Add($"Simulator:RequestLogCapacity must be 0..10000000, 0 turning the log off (got {options.RequestLogCapacity}).");
        }

        if (options.RequestLogBodyBytes < 0)
        {
            errors.Add($"Simulator:RequestLogBodyBytes must be >= 0 (got {options.RequestLogBodyBytes}).");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                errors.Add($"Simulator:Models:{i}:Name is required.");
                continue;
            }

            if (!seen.Add(Models.ModelNames.Normalize(model.Name)))
            {
                errors.Add($"Simulator:Models:{i}:Name '{model.Name}' is listed twice.");
            }

            if (model.Digest is not null && Models.ModelNames.TryNormalizeDigest(model.Digest) is null)
            {
                errors.Add($"Simulator:Models:{i}:Digest must be sha256:<64 hex> (got '{model.Digest}').");
            }

            if (model.Kind is not ("chat" or "embedding"))
            {
                errors.Add($"Simulator:Models:{i}:Kind must be 'chat' or 'embedding' (got '{model.Kind}').");
            }

            if (model.EmbeddingLength is < 1 or > 65_536)
            {
                errors.Add($"Simulator:Models:{i}:EmbeddingLength must be 1..65536 (got {model.EmbeddingLength}).");
            }

            if (model.ContextLength < 1 || model.Size < 0)
            {
                errors.Add($"Simulator:Models:{i}: ContextLength must be >= 1 and Size >= 0.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

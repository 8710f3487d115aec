using System.Collections.Concurrent;

namespace LlmSecOps.Simulator.Models;

/// <summary>
/// The models the simulator currently has: the configured ones, changed at run time by the model-management
/// routes (pull, create, copy, delete) and by the control API (digest changes). Thread-safe.
/// </summary>
public sealed class ModelCatalog
{
    private readonly IReadOnlyList<ModelOptions> _configured;
    private readonly ConcurrentDictionary<string, SimulatedModel> _models = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _loadedUntil = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _blobs = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    internal ModelCatalog(IReadOnlyList<ModelOptions> configured, TimeProvider time, ILogger logger)
    {
        _configured = configured.Count > 0 ? configured : DefaultModels();
        _time = time;
        _logger = logger;
        Reset();
    }

    /// <summary>Models sorted by name.</summary>
    public IReadOnlyList<SimulatedModel> All => [.. _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];

    /// <summary>Finds a model by any spelling Ollama accepts (see <see cref="ModelNames.Normalize"/>).</summary>
    public SimulatedModel? Find(string name) =>
        string.IsNullOrWhiteSpace(name) ? null : _models.GetValueOrDefault(ModelNames.Normalize(name));

    /// <summary>
    /// Changes a model's digest, as if a different model had been pushed under the same name.
    /// Accepts <c>sha256:&lt;hex&gt;</c> or bare hex. Returns false when the model or the digest is unknown/invalid.
    /// </summary>
    public bool SetDigest(string name, string digest)
    {
        var hex = ModelNames.TryNormalizeDigest(digest);
        var model = Find(name);
        if (hex is null || model is null)
        {
            return false;
        }

        _models[model.Name] = model with { Digest = hex, ModifiedAt = _time.GetUtcNow() };
        SimulatorLog.ModelChanged(_logger, model.Name, "digest changed", hex);
        return true;
    }

    /// <summary>Adds or replaces a model.</summary>
    public void Put(SimulatedModel model)
    {
        var name = ModelNames.Normalize(model.Name);
        _models[name] = model with { Name = name };
        SimulatorLog.ModelChanged(_logger, name, "stored", model.Digest);
    }

    /// <summary>Removes a model; false when it was not there.</summary>
    public bool Remove(string name)
    {
        var canonical = ModelNames.Normalize(name);
        _loadedUntil.TryRemove(canonical, out _);
        if (!_models.TryRemove(canonical, out var removed))
        {
            return false;
        }

        SimulatorLog.ModelChanged(_logger, canonical, "deleted", removed.Digest);
        return true;
    }

    /// <summary>Marks a model as loaded until <paramref name="until"/> (what <c>/api/ps</c> lists); null unloads it.</summary>
    internal void MarkLoaded(string canonicalName, DateTimeOffset? until)
    {
        if (until is null)
        {
            _loadedUntil.TryRemove(canonicalName, out _);
        }
        else
        {
            _loadedUntil[canonicalName] = until.Value;
        }
    }

    /// <summary>Models loaded now, with the time each will be unloaded.</summary>
    internal IReadOnlyList<(SimulatedModel Model, DateTimeOffset ExpiresAt)> Loaded()
    {
        var now = _time.GetUtcNow();
        var result = new List<(SimulatedModel, DateTimeOffset)>();
        foreach (var (name, until) in _loadedUntil)
        {
            if (until > now && _models.TryGetValue(name, out var model))
            {
                result.Add((model, until));
            }
        }

        return result;
    }

    internal bool HasBlob(string hex) => _blobs.ContainsKey(hex);

    internal void AddBlob(string hex) => _blobs[hex] = 0;

    /// <summary>Restores the configured models and forgets loaded models and blobs.</summary>
    public void Reset()
    {
        var now = _time.GetUtcNow();
        _models.Clear();
        _loadedUntil.Clear();
        _blobs.Clear();
        foreach (var options in _configured)
        {
            var model = SimulatedModel.FromOptions(options, now);
            _models[model.Name] = model;
        }
    }

    /// <summary>The built-in catalogue: two small chat models and one embedding model, shaped like Ollama's library.</summary>
    internal static IReadOnlyList<ModelOptions> DefaultModels() =>
    [
        new()
        {
            Name = "llama3.2:1b", Kind = "chat", Size = 1_321_098_329, Family = "llama", ParameterSize = "1.2B",
            QuantizationLevel = "Q8_0", ContextLength = 131_072, EmbeddingLength = 2048,
        },
        new()
        {
            Name = "qwen2.5:0.5b", Kind = "chat", Size = 397_821_319, Family = "qwen2", ParameterSize = "494.03M",
            QuantizationLevel = "Q4_K_M", ContextLength = 32_768, EmbeddingLength = 896,
        },
        new()
        {
            Name = "nomic-embed-text:latest", Kind = "embedding", Size = 274_302_450, Family = "nomic-bert",
            ParameterSize = "137M", QuantizationLevel = "F16", ContextLength = 2048, EmbeddingLength = 768,
        },
    ];
}

namespace LlmSecOps.Inference.Parameters;

/// <summary>Model names as ARCHITECTURE.md records them: canonical <c>name:tag</c>, <c>:latest</c> implied.</summary>
public static class ModelNames
{
    /// <summary>
    /// <c>llama3</c> -> <c>llama3:latest</c>; <c>llama3:8b</c> unchanged; <c>registry.local:5000/ns/model</c> ->
    /// <c>registry.local:5000/ns/model:latest</c> (a colon before the last slash is a registry port, not a tag);
    /// a digest reference (<c>name@sha256:...</c>) is kept as is. Case is kept: whether two spellings name one
    /// model is the upstream's business, and the approval pin compares digests anyway.
    /// </summary>
    public static string Canonicalize(string model)
    {
        var name = model.Trim();
        if (name.Length == 0 || name.Contains('@', StringComparison.Ordinal))
        {
            return name;
        }

        var lastSlash = name.LastIndexOf('/');
        return name.IndexOf(':', lastSlash + 1) >= 0 ? name : name + ":latest";
    }
}

namespace LlmSecOps.Inference.Guards;

/// <summary>
/// Size and shape limits on a request body, enforced while it is parsed (one pass). A body over
/// <see cref="MaxBodyBytes"/> is 413; every other limit is 400.
/// </summary>
public sealed class RequestLimits
{
    /// <summary>Largest body accepted, in bytes. Default 8 MiB (room for a few base64 images).</summary>
    public int MaxBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Deepest nesting of objects and arrays. Default 32 (tool JSON schemas nest; 32 is ample).</summary>
    public int MaxDepth { get; set; } = 32;

    /// <summary>Most properties in one object. Default 1,024.</summary>
    public int MaxPropertiesPerObject { get; set; } = 1024;

    /// <summary>Most elements in one array (e.g. an embeddings input list). Default 16,384.</summary>
    public int MaxArrayLength { get; set; } = 16_384;

    /// <summary>Most chat messages. Default 1,024.</summary>
    public int MaxMessages { get; set; } = 1024;

    /// <summary>Longest property name, in bytes. Default 256.</summary>
    public int MaxPropertyNameBytes { get; set; } = 256;

    /// <summary>Shared defaults.</summary>
    public static RequestLimits Default { get; } = new();

    /// <summary>Every problem with these settings, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        Positive(errors, MaxBodyBytes, nameof(MaxBodyBytes));
        Positive(errors, MaxDepth, nameof(MaxDepth));
        Positive(errors, MaxPropertiesPerObject, nameof(MaxPropertiesPerObject));
        Positive(errors, MaxArrayLength, nameof(MaxArrayLength));
        Positive(errors, MaxMessages, nameof(MaxMessages));
        Positive(errors, MaxPropertyNameBytes, nameof(MaxPropertyNameBytes));
        if (MaxDepth > 256)
        {
            errors.Add($"{nameof(MaxDepth)} is {MaxDepth}; keep it at 256 or less (deep nesting is a denial-of-service vector).");
        }

        return errors;
    }

    private static void Positive(List<string> errors, int value, string name)
    {
        if (value <= 0)
        {
            errors.Add($"{name} must be positive (is {value}).");
        }
    }
}

namespace LlmSecOps.Contracts.Keys;

/// <summary>Key scopes (ARCHITECTURE.md); a new key gets all four unless told otherwise.</summary>
public static class KeyScopes
{
    public const string Chat = "chat";
    public const string Completions = "completions";
    public const string Embeddings = "embeddings";
    public const string Models = "models";

    /// <summary>Every scope.</summary>
    public static readonly string[] All = [Chat, Completions, Embeddings, Models];
}

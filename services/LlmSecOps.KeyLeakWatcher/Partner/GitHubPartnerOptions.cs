using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Partner;

/// <summary>GitHub secret-scanning partner endpoint (section <c>GitHubPartner</c>), served on the watcher's listener (8083).</summary>
public sealed class GitHubPartnerOptions
{
    /// <summary>GitHub's published verification keys. Default: <c>https://api.github.com/meta/public_keys/secret_scanning</c>.</summary>
    public Uri? PublicKeysUrl { get; set; } = new("https://api.github.com/meta/public_keys/secret_scanning");

    /// <summary>
    /// A file in GitHub's format (<c>{"public_keys":[{"key_identifier","key","is_current"}]}</c>) for air-gapped sites;
    /// when set it is used instead of <see cref="PublicKeysUrl"/>. Default: none.
    /// </summary>
    public string? PublicKeysFile { get; set; }

    /// <summary>How long fetched keys are trusted before being fetched again. Default: 1 hour.</summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// An unknown key identifier triggers an early refresh (GitHub rotated its key) at most this often, so forged
    /// identifiers cannot make the watcher hammer the key URL. Default: 1 minute.
    /// </summary>
    public TimeSpan MinRefreshInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Largest request body accepted. Default: 1 MiB.</summary>
    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Most tokens accepted in one POST. Default: 1000.</summary>
    public int MaxTokens { get; set; } = 1000;
}

/// <summary>Reports every problem with <see cref="GitHubPartnerOptions"/> at once.</summary>
public sealed class GitHubPartnerOptionsValidator : IValidateOptions<GitHubPartnerOptions>
{
    public ValidateOptionsResult Validate(string? name, GitHubPartnerOptions options)
    {
        var errors = new List<string>();
        if (options.PublicKeysFile is null && options.PublicKeysUrl is null)
        {
            errors.Add("GitHubPartner needs PublicKeysUrl or PublicKeysFile to verify GitHub's signatures.");
        }

        if (options.PublicKeysFile is { } file && !File.Exists(file))
        {
            errors.Add($"GitHubPartner:PublicKeysFile '{file}' does not exist.");
        }

        // Keys fetched over plain HTTP could be swapped in transit; only loopback (tests, a local relay) may use it.
        if (options.PublicKeysFile is null && options.PublicKeysUrl is { } url && url.Scheme != "https" && !(url.Scheme == "http" && url.IsLoopback))
        {
            errors.Add($"GitHubPartner:PublicKeysUrl '{url}' must be https (http is accepted for loopback only).");
        }

        if (options.CacheDuration <= TimeSpan.Zero)
        {
            errors.Add("GitHubPartner:CacheDuration must be positive.");
        }

        if (options.MinRefreshInterval < TimeSpan.Zero)
        {
            errors.Add("GitHubPartner:MinRefreshInterval must not be negative.");
        }

        if (options.MaxBodyBytes is < 1024 or > 32 * 1024 * 1024)
        {
            errors.Add("GitHubPartner:MaxBodyBytes must be between 1 KiB and 32 MiB.");
        }

        if (options.MaxTokens is < 1 or > 100_000)
        {
            errors.Add("GitHubPartner:MaxTokens must be between 1 and 100000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

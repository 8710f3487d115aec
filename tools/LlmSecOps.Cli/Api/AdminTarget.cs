namespace LlmSecOps.Cli.Api;

/// <summary>
/// Where the admin API is and which token to present. Resolved from the options first, then the environment
/// (<c>LLMSECOPS_ADMIN_URL</c>, <c>LLMSECOPS_ADMIN_TOKEN</c>), then the default URL.
/// </summary>
public sealed record AdminTarget(Uri BaseUrl, string Token)
{
    /// <summary>Environment variable holding the admin API's base URL.</summary>
    public const string UrlVariable = "LLMSECOPS_ADMIN_URL";

    /// <summary>Environment variable holding the admin bearer token.</summary>
    public const string TokenVariable = "LLMSECOPS_ADMIN_TOKEN";

    /// <summary>The control plane's default address (ARCHITECTURE.md: 8081, loopback).</summary>
    public const string DefaultUrl = "http://127.0.0.1:8081";

    /// <summary>Longest token accepted (the gateway refuses longer ones too).</summary>
    public const int MaxTokenLength = 512;

    /// <summary>
    /// Resolves and checks the target. Refuses (usage error) a missing token, a URL that is not absolute http(s), and
    /// plain http to a host that is not loopback unless <paramref name="insecure"/>: the token is a bearer credential,
    /// and anyone who can read the traffic could replay it and take over the control plane (RFC 6750 §5.3 requires TLS
    /// for bearer tokens).
    /// </summary>
    public static AdminTarget Resolve(string? urlOption, string? tokenOption, bool insecure, Func<string, string?> environment)
    {
        var urlText = FirstNonBlank(urlOption, environment(UrlVariable)) ?? DefaultUrl;
        if (!Uri.TryCreate(urlText.Trim(), UriKind.Absolute, out var url)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            || !string.IsNullOrEmpty(url.UserInfo))
        {
            throw CliException.Usage($"The admin URL '{urlText}' is not an absolute http:// or https:// URL without credentials " +
                $"(set --url or {UrlVariable}, e.g. {DefaultUrl}).");
        }

        var token = FirstNonBlank(tokenOption, environment(TokenVariable))?.Trim();
        if (token is null)
        {
            throw CliException.Usage($"No admin token: set {TokenVariable} (preferred: it stays out of shell history and the process list) or pass --token.");
        }

        if (token.Length > MaxTokenLength || token.Any(char.IsControl))
        {
            // Never echo the token itself, not even a broken one.
            throw CliException.Usage($"The admin token is not usable (longer than {MaxTokenLength} characters or contains control characters).");
        }

        if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback && !insecure)
        {
            throw CliException.Usage($"Refusing to send the admin token over plain http to '{url.Host}', which is not a loopback address: " +
                "anyone on the network path could read the bearer token and use the control plane as you. " +
                "Use https://, reach the admin listener through an SSH tunnel or port-forward to 127.0.0.1, " +
                "or pass --insecure if this network is trusted.");
        }

        // Routes are appended to the base path: make sure it ends with '/' so a base such as https://host/gw keeps '/gw'.
        if (!url.AbsolutePath.EndsWith('/'))
        {
            url = new UriBuilder(url) { Path = url.AbsolutePath + "/" }.Uri;
        }

        return new AdminTarget(url, token);
    }

    /// <summary>Never prints the token (records print their members by default).</summary>
    public override string ToString() => $"AdminTarget {{ BaseUrl = {BaseUrl}, Token = *** }}";

    private static string? FirstNonBlank(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
}

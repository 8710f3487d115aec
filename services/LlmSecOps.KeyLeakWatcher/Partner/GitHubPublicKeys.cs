using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Partner;

/// <summary>
/// GitHub's secret-scanning signing keys, by identifier: fetched from the configured URL and cached, or read from
/// a file. Signatures are ECDSA P-256 with SHA-256, DER-encoded, base64 in <c>Github-Public-Key-Signature</c>.
/// </summary>
public sealed partial class GitHubPublicKeys(IHttpClientFactory clients, IOptions<GitHubPartnerOptions> options, TimeProvider time, ILogger<GitHubPublicKeys> logger) : IDisposable
{
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private Dictionary<string, string> _keys = new(StringComparer.Ordinal);
    private DateTimeOffset _fetchedAt = DateTimeOffset.MinValue;

    /// <summary>True when <paramref name="signatureBase64"/> is a valid signature of <paramref name="body"/> by key <paramref name="identifier"/>.</summary>
    public async Task<bool> VerifyAsync(string identifier, string signatureBase64, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(signatureBase64);
        }
        catch (FormatException)
        {
            return false;
        }

        var pem = await FindAsync(identifier, cancellationToken);
        if (pem is null)
        {
            return false;
        }

        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportFromPem(pem);
            return ecdsa.KeySize == 256 && ecdsa.VerifyData(body.Span, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            LogBadKey(logger, identifier, ex.Message);
            return false;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _refresh.Dispose();

    private async Task<string?> FindAsync(string identifier, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var settings = options.Value;
        var expired = now - _fetchedAt > settings.CacheDuration;
        if (!expired && _keys.TryGetValue(identifier, out var key))
        {
            return key;
        }

        // Unknown identifier: GitHub may have rotated its key; refresh, but not more often than allowed.
        if (expired || now - _fetchedAt > settings.MinRefreshInterval)
        {
            await _refresh.WaitAsync(cancellationToken);
            try
            {
                if (time.GetUtcNow() - _fetchedAt > settings.MinRefreshInterval || expired)
                {
                    await LoadAsync(settings, cancellationToken);
                }
            }
            finally
            {
                _refresh.Release();
            }
        }

        return _keys.GetValueOrDefault(identifier);
    }

    private async Task LoadAsync(GitHubPartnerOptions settings, CancellationToken cancellationToken)
    {
        try
        {
            string json;
            if (settings.PublicKeysFile is { } file)
            {
                json = await File.ReadAllTextAsync(file, cancellationToken);
            }
            else
            {
                using var http = clients.CreateClient(nameof(GitHubPublicKeys));
                json = await http.GetStringAsync(settings.PublicKeysUrl, cancellationToken);
            }

            var document = JsonSerializer.Deserialize<KeysDocument>(json);
            _keys = (document?.PublicKeys ?? []).Where(k => k.Identifier is not null && k.Key is not null)
                .ToDictionary(k => k.Identifier!, k => k.Key!, StringComparer.Ordinal);
            _fetchedAt = time.GetUtcNow();
            LogLoaded(logger, _keys.Count);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Keep the keys we had: a failed refresh must not turn into "every signature is bad" nor into "none is checked".
            _fetchedAt = time.GetUtcNow() - settings.CacheDuration + settings.MinRefreshInterval;
            LogLoadFailed(logger, ex.Message);
        }
    }

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Loaded {Count} GitHub secret-scanning public keys")]
    private static partial void LogLoaded(ILogger logger, int count);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Error, Message = "Could not load GitHub secret-scanning public keys: {Error}")]
    private static partial void LogLoadFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 6103, Level = LogLevel.Warning, Message = "GitHub public key {Identifier} could not be used: {Error}")]
    private static partial void LogBadKey(ILogger logger, string identifier, string error);

    private sealed class KeysDocument
    {
        [JsonPropertyName("public_keys")]
        public List<KeyEntry>? PublicKeys { get; set; }
    }

    private sealed class KeyEntry
    {
        [JsonPropertyName("key_identifier")]
        public string? Identifier { get; set; }

        [JsonPropertyName("key")]
        public string? Key { get; set; }

        [JsonPropertyName("is_current")]
        public bool IsCurrent { get; set; }
    }
}

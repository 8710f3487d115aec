namespace LlmSecOps.ServiceDefaults.Kestrel;

/// <summary>
/// Kestrel limits, set deliberately rather than left at framework defaults. Section <c>KestrelLimits</c>.
/// Slow-client limits defend against Slowloris-style exhaustion (CVE-2007-6750 class).
/// </summary>
public sealed class KestrelLimitsOptions
{
    /// <summary>Largest request body in bytes. Default: 4 MiB (a chat request with a few images).</summary>
    public long MaxRequestBodySize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Total size of request headers in bytes. Default: 32 KiB.</summary>
    public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    /// <summary>Number of request headers. Default: 64.</summary>
    public int MaxRequestHeaderCount { get; set; } = 64;

    /// <summary>Request line length in bytes. Default: 8 KiB.</summary>
    public int MaxRequestLineSize { get; set; } = 8 * 1024;

    /// <summary>Time to receive all request headers. Default: 10 s.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle keep-alive timeout. Default: 120 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Minimum request body rate in bytes/s after a grace period. Default: 240 bytes/s.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>Minimum response rate in bytes/s after a grace period. Default: 240 bytes/s.
    /// Streaming responses pace themselves with tokens, so the grace period is generous.</summary>
    public double MinResponseBytesPerSecond { get; set; } = 240;

    /// <summary>Grace period before the data-rate minimums apply. Default: 10 s.</summary>
    public TimeSpan DataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent connections per server. Default: 10,000.</summary>
    public long MaxConcurrentConnections { get; set; } = 10_000;

    /// <summary>Concurrent HTTP/2 streams per connection. Default: 100.</summary>
    public int Http2MaxStreamsPerConnection { get; set; } = 100;
}

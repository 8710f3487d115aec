using Microsoft.Extensions.Options;

namespace LlmSecOps.ServiceDefaults.Kestrel;

/// <summary>Reports every invalid Kestrel limit at once, saying how to fix it.</summary>
public sealed class KestrelLimitsValidator : IValidateOptions<KestrelLimitsOptions>
{
    public ValidateOptionsResult Validate(string? name, KestrelLimitsOptions options)
    {
        var errors = new List<string>();
        if (options.MaxRequestBodySize is <= 0 or > 1024L * 1024 * 1024)
        {
            errors.Add("KestrelLimits:MaxRequestBodySize must be between 1 byte and 1 GiB.");
        }

        if (options.MaxRequestHeadersTotalSize is < 1024 or > 1024 * 1024)
        {
            errors.Add("KestrelLimits:MaxRequestHeadersTotalSize must be between 1 KiB and 1 MiB.");
        }

        if (options.MaxRequestHeaderCount is < 8 or > 1000)
        {
            errors.Add("KestrelLimits:MaxRequestHeaderCount must be between 8 and 1000.");
        }

        if (options.MaxRequestLineSize is < 1024 or > 64 * 1024)
        {
            errors.Add("KestrelLimits:MaxRequestLineSize must be between 1 KiB and 64 KiB.");
        }

        if (options.RequestHeadersTimeout <= TimeSpan.Zero || options.RequestHeadersTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add("KestrelLimits:RequestHeadersTimeout must be positive and at most 5 minutes (e.g. 00:00:10).");
        }

        if (options.KeepAliveTimeout <= TimeSpan.Zero)
        {
            errors.Add("KestrelLimits:KeepAliveTimeout must be positive (e.g. 00:02:00).");
        }

        if (options.MinRequestBodyBytesPerSecond < 0 || options.MinResponseBytesPerSecond < 0)
        {
            errors.Add("KestrelLimits:Min*BytesPerSecond must be zero (off) or positive.");
        }

        if (options.DataRateGracePeriod <= TimeSpan.Zero)
        {
            errors.Add("KestrelLimits:DataRateGracePeriod must be positive (e.g. 00:00:10).");
        }

        if (options.MaxConcurrentConnections <= 0 || options.Http2MaxStreamsPerConnection <= 0)
        {
            errors.Add("KestrelLimits:MaxConcurrentConnections and Http2MaxStreamsPerConnection must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

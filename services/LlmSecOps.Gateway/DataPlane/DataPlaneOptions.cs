using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>Settings of the data plane (section <c>DataPlane</c>).</summary>
public sealed class DataPlaneOptions
{
    /// <summary>Credential sent to the upstream as <c>Authorization: Bearer</c> (default none). Never the client's key.</summary>
    public string? UpstreamApiKey { get; set; }

    /// <summary>TTL of a tenant concurrency lease (default 10 minutes): a gateway killed mid-request frees its slot after this.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long tier, tenant policy, budget and model approvals are cached in process (default 2 seconds).</summary>
    public TimeSpan PolicyCacheTtl { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Largest request body accepted, in bytes (default 8 MiB); larger answers 413.</summary>
    public int MaxRequestBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Largest non-streamed upstream response processed (default 16 MiB); larger answers 502.</summary>
    public int MaxResponseDocumentBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Timeout for the upstream to answer (default 5 minutes; streams may run longer once started).</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Reports every invalid <see cref="DataPlaneOptions"/> setting at once.</summary>
internal sealed class DataPlaneOptionsValidator : IValidateOptions<DataPlaneOptions>
{
    public ValidateOptionsResult Validate(string? name, DataPlaneOptions options)
    {
        var errors = new List<string>();
        if (options.LeaseTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add("DataPlane:LeaseTtl must be at least 00:00:01.");
        }

        if (options.PolicyCacheTtl < TimeSpan.Zero || options.PolicyCacheTtl > TimeSpan.FromMinutes(5))
        {
            errors.Add("DataPlane:PolicyCacheTtl must be between 00:00:00 and 00:05:00.");
        }

        if (options.MaxRequestBodyBytes is < 1024 or > 256 * 1024 * 1024)
        {
            errors.Add("DataPlane:MaxRequestBodyBytes must be between 1024 and 268435456.");
        }

        if (options.MaxResponseDocumentBytes is < 1024 or > 256 * 1024 * 1024)
        {
            errors.Add("DataPlane:MaxResponseDocumentBytes must be between 1024 and 268435456.");
        }

        if (options.UpstreamTimeout <= TimeSpan.Zero)
        {
            errors.Add("DataPlane:UpstreamTimeout must be positive.");
        }

        if (options.UpstreamApiKey is { Length: 0 })
        {
            errors.Add("DataPlane:UpstreamApiKey is empty: remove it or set a value.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

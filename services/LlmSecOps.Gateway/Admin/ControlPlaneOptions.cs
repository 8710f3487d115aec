using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Admin;

/// <summary>
/// Control-plane settings (section <c>ControlPlane</c>). The bootstrap admin token is the first credential an
/// operator has; it comes from <c>ControlPlane__BootstrapAdminToken</c> or a mounted secret file named by
/// <c>ControlPlane__BootstrapAdminTokenFile</c>. Without either the gateway refuses to start (fail closed).
/// </summary>
public sealed class ControlPlaneOptions
{
    /// <summary>Minimum bootstrap token length.</summary>
    public const int MinimumTokenLength = 32;

    /// <summary>The bootstrap admin token (role <c>admin</c>). Default: none.</summary>
    public string? BootstrapAdminToken { get; set; }

    /// <summary>Path of a file holding the bootstrap admin token (e.g. a Kubernetes secret volume). Default: none.</summary>
    public string? BootstrapAdminTokenFile { get; set; }

    /// <summary>Largest admin request body accepted, in bytes. Default: 65,536.</summary>
    public int MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>The token in effect: the inline value, else the file's first line.</summary>
    public string? ResolveBootstrapToken()
    {
        if (!string.IsNullOrWhiteSpace(BootstrapAdminToken))
        {
            return BootstrapAdminToken.Trim();
        }

        if (!string.IsNullOrWhiteSpace(BootstrapAdminTokenFile) && File.Exists(BootstrapAdminTokenFile))
        {
            return File.ReadAllText(BootstrapAdminTokenFile).Trim();
        }

        return null;
    }
}

/// <summary>Reports every problem of <see cref="ControlPlaneOptions"/> at once.</summary>
public sealed class ControlPlaneOptionsValidator : IValidateOptions<ControlPlaneOptions>
{
    public ValidateOptionsResult Validate(string? name, ControlPlaneOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.BootstrapAdminTokenFile) && string.IsNullOrWhiteSpace(options.BootstrapAdminToken)
            && !File.Exists(options.BootstrapAdminTokenFile))
        {
            errors.Add($"ControlPlane:BootstrapAdminTokenFile '{options.BootstrapAdminTokenFile}' does not exist.");
        }
        else
        {
            var token = options.ResolveBootstrapToken();
            if (token is null)
            {
                errors.Add("No bootstrap admin token: the admin API refuses to start without one. Set ControlPlane__BootstrapAdminToken " +
                    "(e.g. `export ControlPlane__BootstrapAdminToken=$(openssl rand -base64 32)`) or mount a secret and set ControlPlane__BootstrapAdminTokenFile to its path.");
            }
            else if (token.Length < ControlPlaneOptions.MinimumTokenLength)
            {
                errors.Add($"The bootstrap admin token is shorter than {ControlPlaneOptions.MinimumTokenLength} characters; generate one with `openssl rand -base64 32`.");
            }
        }

        if (options.MaxRequestBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add("ControlPlane:MaxRequestBodyBytes must be between 1024 and 16777216.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

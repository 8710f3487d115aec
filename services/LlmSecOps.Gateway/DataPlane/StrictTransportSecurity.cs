using System.Globalization;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// HTTP Strict Transport Security on the data plane (section <c>DataPlane:Hsts</c>, RFC 6797). The header is sent only on
/// responses over HTTPS, i.e. when <c>Listeners:Data:CertificatePath</c> is set: a host must not send it over plain HTTP
/// (RFC 6797 §7.2) and clients ignore it there (§8.1).
/// </summary>
public sealed class StrictTransportSecurityOptions
{
    /// <summary>Send the header on HTTPS responses of the data listener. Default: true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long clients remember to use HTTPS only (<c>max-age</c>, whole seconds). Default: 365 days.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Add <c>includeSubDomains</c> (every subdomain must then serve HTTPS). Default: false.</summary>
    public bool IncludeSubDomains { get; set; }

    /// <summary>Add <c>preload</c> (browser preload lists; needs <see cref="IncludeSubDomains"/> and a year or more). Default: false.</summary>
    public bool Preload { get; set; }

    /// <summary>The header value these options describe.</summary>
    public string HeaderValue()
    {
        var value = "max-age=" + ((long)MaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        if (IncludeSubDomains)
        {
            value += "; includeSubDomains";
        }

        return Preload ? value + "; preload" : value;
    }
}

/// <summary>Reports every invalid <see cref="StrictTransportSecurityOptions"/> setting at once.</summary>
internal sealed class StrictTransportSecurityOptionsValidator : IValidateOptions<StrictTransportSecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, StrictTransportSecurityOptions options)
    {
        var errors = new List<string>();

        // RFC 6797 §6.1.1: max-age is delta-seconds; 0 tells clients to forget the host (allowed, to back out of HSTS).
        if (options.MaxAge < TimeSpan.Zero)
        {
            errors.Add("DataPlane:Hsts:MaxAge must not be negative (0 tells browsers to forget the policy).");
        }

        if (options.Preload && (!options.IncludeSubDomains || options.MaxAge < TimeSpan.FromDays(365)))
        {
            errors.Add("DataPlane:Hsts:Preload needs DataPlane:Hsts:IncludeSubDomains=true and DataPlane:Hsts:MaxAge of at least 365.00:00:00 (hstspreload.org requirements).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// Adds the header first in the pipeline, so every HTTPS response of the data listener carries it (refusals and 404s
/// included), set when the response starts so that nothing that clears the response on the way loses it.
/// </summary>
internal sealed class StrictTransportSecurityStartupFilter(IOptions<StrictTransportSecurityOptions> options, ListenerRegistry listeners, string dataListener)
    : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        if (options.Value.Enabled)
        {
            var value = options.Value.HeaderValue();
            Func<object, Task> apply = state =>
            {
                ((HttpResponse)state).Headers.StrictTransportSecurity = value;
                return Task.CompletedTask;
            };
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.IsHttps && string.Equals(listeners.NameOf(context.Connection), dataListener, StringComparison.OrdinalIgnoreCase))
                {
                    context.Response.OnStarting(apply, context.Response);
                }

                return nextMiddleware(context);
            });
        }

        next(app);
    };
}

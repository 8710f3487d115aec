using Microsoft.Extensions.Logging;

namespace LlmSecOps.ServiceDefaults.Telemetry;

/// <summary>
/// Keeps ASP.NET Core's own per-request log lines out of every log provider (console, OTLP, any other).
/// </summary>
/// <remarks>
/// <c>Microsoft.AspNetCore.Hosting.Diagnostics</c> logs "Request starting/finished" at Information with the raw
/// query string, before any middleware of ours runs, so a client that puts a key in the URL (<c>?api_key=</c>,
/// <c>?key=</c>: common in other vendors' APIs, never honoured by ours) would have it written to the logs and
/// exported. Credentials in URLs are a known leak path (CWE-598; RFC 6750 section 5.3 says bearer tokens must not be
/// passed in page URLs). Each service records requests its own way (the gateway's event stream and records),
/// without the query string. Warnings and errors of that category still come through.
/// A provider-specific setting such as <c>Logging:Console:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics</c>
/// is more specific than this rule and would bring the lines back: do not set one.
/// </remarks>
public static class RequestLineLogging
{
    /// <summary>The category ASP.NET Core writes its per-request lines to.</summary>
    public const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>Raises that category to <see cref="LogLevel.Warning"/> for every provider (added after configuration, so it wins over <c>Logging:LogLevel</c>).</summary>
    public static ILoggingBuilder SuppressRawRequestLines(this ILoggingBuilder logging) =>
        logging.AddFilter(HostingDiagnosticsCategory, LogLevel.Warning);
}

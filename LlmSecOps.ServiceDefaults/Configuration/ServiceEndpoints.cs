using System.Data.Common;
using Microsoft.Extensions.Configuration;

namespace LlmSecOps.ServiceDefaults.Configuration;

/// <summary>
/// Resolves what the Aspire AppHost injects, without Microsoft.Extensions.ServiceDiscovery (not available here):
/// <c>services__{name}__{endpoint}__0</c> and <c>ConnectionStrings__{name}</c> (<c>Endpoint=http://host:port</c>
/// or a plain URL).
/// </summary>
public static class ServiceEndpoints
{
    /// <summary>
    /// The base URI of service <paramref name="name"/>: first <c>services:{name}:{endpoint}:0</c> for each preferred
    /// endpoint name (default <c>https</c> then <c>http</c>), then <c>ConnectionStrings:{name}</c>. Null when none is set.
    /// </summary>
    public static Uri? Resolve(IConfiguration configuration, string name, params string[] endpointNames)
    {
        if (endpointNames.Length == 0)
        {
            endpointNames = ["https", "http"];
        }

        foreach (var endpoint in endpointNames)
        {
            var value = configuration[$"services:{name}:{endpoint}:0"];
            if (!string.IsNullOrWhiteSpace(value) && Uri.TryCreate(value, UriKind.Absolute, out var uri))
            {
                return uri;
            }
        }

        return ParseConnectionString(configuration.GetConnectionString(name));
    }

    /// <summary>Parses <c>Endpoint=http://host:port</c> (Aspire's form) or a plain absolute URL.</summary>
    public static Uri? ParseConnectionString(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return null;
        }

        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var plain) && plain.Scheme is "http" or "https")
        {
            return plain;
        }

        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        return builder.TryGetValue("Endpoint", out var endpoint) && Uri.TryCreate(endpoint?.ToString(), UriKind.Absolute, out var uri)
            ? uri
            : null;
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace LlmSecOps.ServiceDefaults.Listeners;

/// <summary>Endpoint metadata naming the only listener an endpoint answers on.</summary>
public sealed record ListenerMetadata(string Name);

/// <summary>Binds endpoints to listeners.</summary>
public static class ListenerEndpointExtensions
{
    /// <summary>
    /// The endpoints answer only on connections that arrived on the named listener's port; elsewhere they
    /// are not found (404), exactly as if they did not exist. The Host header plays no part.
    /// </summary>
    public static TBuilder RequireListener<TBuilder>(this TBuilder builder, string name)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new ListenerMetadata(name));
        return builder;
    }

    /// <summary>
    /// Middleware (after UseRouting) that drops the matched endpoint when the connection's listener differs
    /// from the endpoint's, and fails closed for endpoints that name no listener at all.
    /// </summary>
    public static IApplicationBuilder UseListenerIsolation(this IApplicationBuilder app)
    {
        var registry = app.ApplicationServices.GetRequiredService<ListenerRegistry>();
        return app.Use((context, next) =>
        {
            var endpoint = context.GetEndpoint();
            if (endpoint is not null)
            {
                var required = endpoint.Metadata.GetMetadata<ListenerMetadata>();
                var actual = registry.NameOf(context.Connection);
                if (required is null || actual is null || !string.Equals(required.Name, actual, StringComparison.OrdinalIgnoreCase))
                {
                    context.SetEndpoint(null);
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }
            }

            return next(context);
        });
    }
}

using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>Registers client identity (trusted proxies, edge country header, IP range database).</summary>
internal static class ClientIdentityExtensions
{
    /// <summary>Adds <see cref="ClientIdentityService"/>, validated options (section <c>ClientIdentity</c>) and loads the database at start-up.</summary>
    public static IServiceCollection AddClientIdentity(this IServiceCollection services)
    {
        services.AddOptions<ClientIdentityOptions>().BindConfiguration("ClientIdentity").ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClientIdentityOptions>, ClientIdentityOptionsValidator>();
        services.AddSingleton<ClientIdentityService>();

        // Resolving it as a hosted service loads the range database while the host starts, not on the first request.
        services.AddHostedService(sp => sp.GetRequiredService<ClientIdentityService>());
        return services;
    }
}

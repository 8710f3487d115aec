using LlmSecOps.Simulator.State;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace LlmSecOps.Simulator;

/// <summary>
/// A simulator running in-process on a free loopback port, for tests and benchmarks:
/// <code>await using var upstream = await SimulatorHost.StartAsync();
/// upstream.State.UpdateSwitches(s =&gt; s with { IgnoreMaxTokens = true });</code>
/// </summary>
public sealed class SimulatorHost : IAsyncDisposable
{
    private SimulatorHost(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        State = app.Services.GetRequiredService<SimulatorState>();
    }

    /// <summary>The running application.</summary>
    public WebApplication App { get; }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Switches, models and the request log.</summary>
    public SimulatorState State { get; }

    /// <summary>
    /// Starts a simulator on <c>http://127.0.0.1:0</c> (a free port) unless <paramref name="args"/> name other
    /// <c>--urls</c>; <paramref name="configure"/> can add configuration (e.g. <c>Simulator:CompletionTokens</c>).
    /// </summary>
    public static async Task<SimulatorHost> StartAsync(string[]? args = null, Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        var arguments = args ?? [];
        if (!arguments.Any(a => a.StartsWith("--urls", StringComparison.Ordinal)))
        {
            arguments = [.. arguments, "--urls", "http://127.0.0.1:0"];
        }

        var app = SimulatorApp.Build(arguments, configure);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new SimulatorHost(app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Stops the simulator (stalled streams are dropped).</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await App.StopAsync(timeout.Token);
        await App.DisposeAsync();
    }
}

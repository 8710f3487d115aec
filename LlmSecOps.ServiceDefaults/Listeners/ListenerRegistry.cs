using System.Collections.Frozen;
using System.Net;
using Microsoft.AspNetCore.Http;

namespace LlmSecOps.ServiceDefaults.Listeners;

/// <summary>
/// The listeners a service bound, resolved from configuration, and the map from local port to listener name
/// that decides which API a connection may reach.
/// </summary>
public sealed class ListenerRegistry
{
    private FrozenDictionary<int, string> _byPort;

    public ListenerRegistry(IReadOnlyList<ResolvedListener> listeners)
    {
        Listeners = listeners;
        _byPort = ByPort(listeners);
    }

    /// <summary>The listeners, in declaration order.</summary>
    public IReadOnlyList<ResolvedListener> Listeners { get; private set; }

    /// <summary>Finds a listener by name (case-insensitive).</summary>
    public ResolvedListener Get(string name) =>
        Listeners.FirstOrDefault(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new InvalidOperationException($"No listener named '{name}' is declared.");

    /// <summary>The listener name a connection arrived on, or null when its local port belongs to none.</summary>
    public string? NameOf(ConnectionInfo connection) =>
        _byPort.TryGetValue(connection.LocalPort, out var name) ? name : null;

    /// <summary>
    /// Called once the server has started: a listener configured with port 0 gets the port the OS chose
    /// (tests bind port 0), read from the server's addresses in declaration order.
    /// </summary>
    public void UpdatePorts(IReadOnlyList<int> actualPorts)
    {
        if (actualPorts.Count != Listeners.Count)
        {
            return;
        }

        Listeners = Listeners.Select((l, i) => l with { Port = actualPorts[i] }).ToArray();
        _byPort = ByPort(Listeners);
    }

    // Port 0 (let the OS choose, in tests) maps to nothing until the real port is known.
    private static FrozenDictionary<int, string> ByPort(IReadOnlyList<ResolvedListener> listeners) =>
        listeners.Where(l => l.Port != 0).ToFrozenDictionary(l => l.Port, l => l.Name, null);
}

/// <summary>A listener after configuration: where it binds and how.</summary>
public sealed record ResolvedListener(string Name, IPAddress Address, int Port, bool IsManagement, ListenerOptions Options)
{
    /// <summary>True when the listener serves HTTPS.</summary>
    public bool IsHttps => !string.IsNullOrEmpty(Options.CertificatePath);

    /// <summary>The base URL clients use to reach this listener.</summary>
    public string BaseUrl
    {
        get
        {
            var host = Address.Equals(IPAddress.Any) || Address.Equals(IPAddress.IPv6Any) ? "127.0.0.1"
                : Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString();
            return $"{(IsHttps ? "https" : "http")}://{host}:{Port}";
        }
    }
}

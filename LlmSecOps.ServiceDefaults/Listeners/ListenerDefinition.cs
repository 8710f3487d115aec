namespace LlmSecOps.ServiceDefaults.Listeners;

/// <summary>A listener a service declares, with its defaults; configuration may override address and port.</summary>
/// <param name="Name">Configuration name under <c>Listeners:</c> (e.g. <c>Data</c>, <c>Admin</c>).</param>
/// <param name="DefaultAddress">Address bound when none is configured.</param>
/// <param name="DefaultPort">Port bound when none is configured.</param>
/// <param name="IsManagement">Health endpoints are mapped on management listeners only.</param>
public sealed record ListenerDefinition(string Name, string DefaultAddress, int DefaultPort, bool IsManagement);

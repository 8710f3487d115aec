namespace LlmSecOps.ServiceDefaults.Listeners;

/// <summary>
/// One named Kestrel listener (e.g. <c>data</c> on 8080, <c>admin</c> on 8081), bound from configuration
/// section <c>Listeners:{Name}</c>. A request's listener is decided by the local port it arrived on, never by
/// the Host header.
/// </summary>
public sealed class ListenerOptions
{
    /// <summary>Address to bind. Default: the service's choice per listener (loopback for admin/management).</summary>
    public string? Address { get; set; }

    /// <summary>TCP port. Default: the service's choice per listener (8080..8083).</summary>
    public int? Port { get; set; }

    /// <summary>Path to a PEM or PFX certificate; when set the listener serves HTTPS only. Default: none (HTTP).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Path to the PEM private key when <see cref="CertificatePath"/> is a PEM certificate. Default: none.</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>Password of a PFX certificate. Default: none.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// How often a TLS handshake may check whether the certificate files changed (a renewal is then loaded without a
    /// restart; a file that does not load keeps the previous certificate). Zero turns reloading off. Default: 1 minute.
    /// </summary>
    public TimeSpan CertificateReloadInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Require and validate TLS client certificates (mTLS). Requires a certificate. Default: false.</summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>PEM file of CA certificates that client certificates must chain to when <see cref="RequireClientCertificate"/> is on.</summary>
    public string? ClientCertificateAuthorityPath { get; set; }
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.ServiceDefaults.Kestrel;

/// <summary>Applies <see cref="KestrelLimitsOptions"/> and binds the resolved listeners.</summary>
internal static class KestrelHardening
{
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    public static void Apply(KestrelServerOptions kestrel, KestrelLimitsOptions limits, ListenerRegistry listeners, ILoggerFactory loggers)
    {
        kestrel.AddServerHeader = false;
        var l = kestrel.Limits;
        l.MaxRequestBodySize = limits.MaxRequestBodySize;
        l.MaxRequestHeadersTotalSize = limits.MaxRequestHeadersTotalSize;
        l.MaxRequestHeaderCount = limits.MaxRequestHeaderCount;
        l.MaxRequestLineSize = limits.MaxRequestLineSize;
        l.RequestHeadersTimeout = limits.RequestHeadersTimeout;
        l.KeepAliveTimeout = limits.KeepAliveTimeout;
        l.MaxConcurrentConnections = limits.MaxConcurrentConnections;
        l.MaxConcurrentUpgradedConnections = 0;
        l.Http2.MaxStreamsPerConnection = limits.Http2MaxStreamsPerConnection;
        l.MinRequestBodyDataRate = limits.MinRequestBodyBytesPerSecond > 0
            ? new MinDataRate(limits.MinRequestBodyBytesPerSecond, limits.DataRateGracePeriod)
            : null;
        l.MinResponseDataRate = limits.MinResponseBytesPerSecond > 0
            ? new MinDataRate(limits.MinResponseBytesPerSecond, limits.DataRateGracePeriod)
            : null;

        foreach (var listener in listeners.Listeners)
        {
            kestrel.Listen(listener.Address, listener.Port, endpoint =>
            {
                if (!listener.IsHttps)
                {
                    return;
                }

                var options = listener.Options;
                var logger = loggers.CreateLogger<ListenerRegistry>();
                var certificate = new ReloadingTlsFile<X509Certificate2>(listener.Name, "certificate", [options.CertificatePath, options.CertificateKeyPath],
                    () => LoadCertificate(options), c => $"{c.Subject}, valid until {c.NotAfter:u}", options.CertificateReloadInterval, logger);
                var authorities = options.RequireClientCertificate
                    ? new ReloadingTlsFile<X509Certificate2Collection>(listener.Name, "client certificate authorities", [options.ClientCertificateAuthorityPath],
                        () => LoadAuthorities(options.ClientCertificateAuthorityPath), c => string.Join("; ", c.Select(a => a.Subject)), options.CertificateReloadInterval, logger)
                    : null;
                endpoint.UseHttps(https =>
                {
                    // A selector rather than a fixed certificate, so that a renewed certificate is served without a restart.
                    https.ServerCertificateSelector = (_, _) => certificate.Current;

                    // Our own chain check below decides (revocation is not checked: private CAs rarely publish CRLs, and
                    // SslStream's online check would make the server fetch URLs named by the client's certificate).
                    https.CheckCertificateRevocation = false;
                    if (authorities is not null)
                    {
                        https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
                        https.ClientCertificateValidation = (clientCertificate, _, _) => ChainsTo(clientCertificate, authorities.Current);
                    }
                });
            });
        }
    }

    /// <summary>Loads a PEM (certificate + key, or both in one file) or PKCS#12 certificate.</summary>
    private static X509Certificate2 LoadCertificate(ListenerOptions options)
    {
        var path = options.CertificatePath!;
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword);
        }

        return X509Certificate2.CreateFromPemFile(path, options.CertificateKeyPath);
    }

    private static X509Certificate2Collection LoadAuthorities(string? path)
    {
        var collection = new X509Certificate2Collection();
        if (!string.IsNullOrEmpty(path))
        {
            collection.ImportFromPemFile(path);
        }

        if (collection.Count == 0)
        {
            throw new InvalidOperationException($"The client certificate authority file '{path}' holds no PEM certificate: mTLS would refuse every client.");
        }

        return collection;
    }

    /// <summary>
    /// True when the client certificate chains to one of the configured authorities (and to nothing else: the system
    /// trust store plays no part), is within its validity period and is meant for client authentication (RFC 5280
    /// §4.2.1.12: an extended key usage without id-kp-clientAuth is refused; none at all means any purpose).
    /// </summary>
    internal static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.ExtraStore.AddRange(authorities);
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthOid));
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        // Never follow the certificate's AIA URLs: a client could otherwise make the server fetch any address it names.
        chain.ChainPolicy.DisableCertificateDownloads = true;
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }

    /// <summary>Parses an address setting: an IP literal, <c>localhost</c> (loopback), or <c>*</c>/<c>0.0.0.0</c> (any).</summary>
    public static IPAddress ParseAddress(string value) => value switch
    {
        "*" or "+" => IPAddress.Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.Parse(value),
    };
}

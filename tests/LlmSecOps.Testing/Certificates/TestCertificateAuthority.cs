using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LlmSecOps.Testing.Certificates;

/// <summary>
/// A throw-away certificate authority for TLS and mTLS tests: a self-signed CA (ECDSA P-256, quick to make) that issues
/// server certificates for 127.0.0.1/localhost and client certificates, and writes them as PEM or PFX files.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    /// <summary>id-kp-serverAuth (RFC 5280 §4.2.1.12).</summary>
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>id-kp-clientAuth (RFC 5280 §4.2.1.12).</summary>
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private TestCertificateAuthority(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Creates a CA valid from a day ago for a year.</summary>
    public static TestCertificateAuthority Create(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return new TestCertificateAuthority(request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1)));
    }

    /// <summary>A server certificate for 127.0.0.1, ::1 and localhost (EKU serverAuth), with its private key.</summary>
    public X509Certificate2 IssueServer(string name = "localhost")
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        return Issue(name, ServerAuthOid, san.Build());
    }

    /// <summary>A client certificate (EKU clientAuth), with its private key.</summary>
    public X509Certificate2 IssueClient(string name) => Issue(name, ClientAuthOid, null);

    /// <summary>Issues a leaf certificate with one extended key usage (and optional subject alternative names).</summary>
    public X509Certificate2 Issue(string name, string extendedKeyUsageOid, X509Extension? subjectAlternativeNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(extendedKeyUsageOid)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        if (subjectAlternativeNames is not null)
        {
            request.CertificateExtensions.Add(subjectAlternativeNames);
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(Certificate, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), serial);

        // A PKCS#12 round trip gives a certificate whose key every TLS stack accepts (not an ephemeral handle).
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes the certificate as PEM (<c>{name}.crt</c>) and, when it has one, its private key (<c>{name}.key</c>, PKCS#8).</summary>
    public static (string CertificatePath, string KeyPath) WritePem(X509Certificate2 certificate, string directory, string name)
    {
        var certificatePath = Path.Combine(directory, name + ".crt");
        var keyPath = Path.Combine(directory, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        using var key = certificate.GetECDsaPrivateKey();
        if (key is not null)
        {
            File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        }

        return (certificatePath, keyPath);
    }

    /// <summary>Writes this CA's certificate alone (no key) as PEM (<c>{name}.crt</c>): a trust-anchor file for a listener.</summary>
    public string WriteCertificatePem(string directory, string name)
    {
        var path = Path.Combine(directory, name + ".crt");
        File.WriteAllText(path, Certificate.ExportCertificatePem() + "\n");
        return path;
    }

    /// <summary>Writes the certificate with its key as a password-protected PKCS#12 file (<c>{name}.pfx</c>).</summary>
    public static string WritePfx(X509Certificate2 certificate, string directory, string name, string password)
    {
        var path = Path.Combine(directory, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
        return path;
    }

    /// <summary>
    /// A server-certificate check for clients that trusts this CA only (never "accept anything"): the chain must end at
    /// this CA and the name must match.
    /// </summary>
    public bool ValidateServer(X509Certificate2? certificate, System.Net.Security.SslPolicyErrors errors)
    {
        if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0
            || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>A temporary directory for certificate files (deleted by the caller or the OS).</summary>
    public static string NewDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "llmsecops-certs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return directory;
    }

    public void Dispose() => Certificate.Dispose();
}

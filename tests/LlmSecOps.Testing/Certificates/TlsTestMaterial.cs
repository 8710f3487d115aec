namespace LlmSecOps.Testing.Certificates;

/// <summary>What a TLS test class starts from: a temporary directory for certificate files, the CA the listener is
/// told to trust, and another CA it must not trust. Disposing deletes the directory.</summary>
public sealed class TlsTestMaterial : IDisposable
{
    /// <summary>Where the test writes its certificate and key files.</summary>
    public string Directory { get; } = TestCertificateAuthority.NewDirectory();

    /// <summary>The trusted CA.</summary>
    public TestCertificateAuthority Ca { get; } = TestCertificateAuthority.Create("LlmSecOps test CA");

    /// <summary>A CA nobody was told to trust.</summary>
    public TestCertificateAuthority OtherCa { get; } = TestCertificateAuthority.Create("Some other CA");

    public void Dispose()
    {
        Ca.Dispose();
        OtherCa.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

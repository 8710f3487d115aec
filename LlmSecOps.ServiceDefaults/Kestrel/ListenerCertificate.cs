using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.ServiceDefaults.Kestrel;

/// <summary>
/// A listener's server certificate, re-read when its files change (cert-manager, a Kubernetes Secret or certbot
/// renewing it) so a renewal needs no restart. At most once per <see cref="ListenerOptions.CertificateReloadInterval"/>
/// a TLS handshake compares a hash of the files with what was loaded; a change is loaded, and a file
/// that does not load (half written, key and certificate not matching yet) keeps the previous certificate in service
/// and is tried again at the next interval.
/// </summary>
internal sealed partial class ListenerCertificate
{
    private readonly string _listener;
    private readonly ListenerOptions _options;
    private readonly long _intervalMs;
    private readonly ILogger _logger;
    private readonly Lock _reloading = new();
    private volatile X509Certificate2 _current;
    private string _stamp;
    private long _nextCheck;

    public ListenerCertificate(string listener, ListenerOptions options, ILogger logger)
    {
        _listener = listener;
        _options = options;
        _logger = logger;
        _intervalMs = (long)options.CertificateReloadInterval.TotalMilliseconds;
        _stamp = Stamp();
        _current = Load(options);
        _nextCheck = Environment.TickCount64 + _intervalMs;
    }

    /// <summary>The certificate to present now; checks the files when the interval has passed.</summary>
    public X509Certificate2 Current
    {
        get
        {
            if (_intervalMs > 0 && Environment.TickCount64 >= Volatile.Read(ref _nextCheck))
            {
                CheckFiles();
            }

            return _current;
        }
    }

    /// <summary>Loads a PEM (certificate + key, or both in one file) or PKCS#12 certificate.</summary>
    public static X509Certificate2 Load(ListenerOptions options)
    {
        var path = options.CertificatePath!;
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword);
        }

        return X509Certificate2.CreateFromPemFile(path, options.CertificateKeyPath);
    }

    private void CheckFiles()
    {
        // One handshake checks; the others keep presenting the current certificate meanwhile.
        if (!_reloading.TryEnter())
        {
            return;
        }

        try
        {
            Volatile.Write(ref _nextCheck, Environment.TickCount64 + _intervalMs);
            var stamp = Stamp();
            if (stamp == _stamp)
            {
                return;
            }

            try
            {
                var loaded = Load(_options);
                var previous = _current;
                _current = loaded;
                _stamp = stamp;
                Log.Reloaded(_logger, _listener, loaded.Subject, loaded.NotAfter, previous.NotAfter);

                // The previous certificate is not disposed: handshakes in progress may still be using it.
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                Log.ReloadFailed(_logger, _listener, ex.GetType().Name, ex.Message);
            }
        }
        finally
        {
            _reloading.Exit();
        }
    }

    // The files' contents, hashed: a few KiB read once per interval, and no reliance on modification times (copies keep
    // them, and coarse file-system clocks can make two versions look the same).
    private string Stamp()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in new[] { _options.CertificatePath, _options.CertificateKeyPath })
        {
            if (string.IsNullOrEmpty(path))
            {
                continue;
            }

            try
            {
                hash.AppendData(File.ReadAllBytes(path));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                hash.AppendData("missing"u8);
            }
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 9101, Level = LogLevel.Information, Message = "Listener {Listener}: loaded the renewed certificate {Subject}, valid until {NotAfter:u} (the one it replaces: until {PreviousNotAfter:u}).")]
        public static partial void Reloaded(ILogger logger, string listener, string subject, DateTime notAfter, DateTime previousNotAfter);

        [LoggerMessage(EventId = 9102, Level = LogLevel.Warning, Message = "Listener {Listener}: the changed certificate files do not load ({Error}: {Message}); still serving the previous certificate, trying again later.")]
        public static partial void ReloadFailed(ILogger logger, string listener, string error, string message);
    }
}

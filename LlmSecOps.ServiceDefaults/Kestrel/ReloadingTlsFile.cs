using System.Security.Cryptography;
using LlmSecOps.ServiceDefaults.Listeners;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.ServiceDefaults.Kestrel;

/// <summary>
/// Something a listener loads from files for TLS (its server certificate, the CAs its clients must chain to), re-read
/// when the files change (cert-manager, a Kubernetes Secret or certbot renewing them) so a renewal needs no restart.
/// At most once per <see cref="ListenerOptions.CertificateReloadInterval"/> a TLS handshake compares a hash of the
/// files' contents with what was loaded; a change is loaded, and files that do not load (half written, key and
/// certificate not matching yet) keep the previous value in service and are tried again at the next interval.
/// </summary>
/// <typeparam name="T">What the files hold.</typeparam>
internal sealed class ReloadingTlsFile<T>
    where T : class
{
    private readonly string _listener;
    private readonly string _what;
    private readonly string?[] _paths;
    private readonly Func<T> _load;
    private readonly Func<T, string> _describe;
    private readonly long _intervalMs;
    private readonly ILogger _logger;
    private readonly Lock _reloading = new();
    private volatile T _current;
    private string _stamp;
    private long _nextCheck;

    /// <summary>Loads now (a failure here stops start-up); <paramref name="paths"/> are the files whose change triggers a reload.</summary>
    public ReloadingTlsFile(string listener, string what, string?[] paths, Func<T> load, Func<T, string> describe, TimeSpan interval, ILogger logger)
    {
        _listener = listener;
        _what = what;
        _paths = paths;
        _load = load;
        _describe = describe;
        _logger = logger;
        _intervalMs = (long)interval.TotalMilliseconds;
        _stamp = Stamp();
        _current = load();
        _nextCheck = Environment.TickCount64 + _intervalMs;
    }

    /// <summary>The value to use now; checks the files when the interval has passed.</summary>
    public T Current
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

    private void CheckFiles()
    {
        // One handshake checks; the others keep using the current value meanwhile.
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
                // The previous value is not disposed: handshakes in progress may still be using it.
                _current = _load();
                _stamp = stamp;
                TlsFileLog.Reloaded(_logger, _listener, _what, _describe(_current));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException or InvalidOperationException)
            {
                TlsFileLog.ReloadFailed(_logger, _listener, _what, ex.GetType().Name, ex.Message);
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
        foreach (var path in _paths)
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
}

/// <summary>Log messages of <see cref="ReloadingTlsFile{T}"/> (a generic type cannot hold them).</summary>
internal static partial class TlsFileLog
{
    [LoggerMessage(EventId = 9101, Level = LogLevel.Information, Message = "Listener {Listener}: loaded the renewed {What}: {Description}.")]
    public static partial void Reloaded(ILogger logger, string listener, string what, string description);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Warning, Message = "Listener {Listener}: the changed {What} files do not load ({Error}: {Message}); still using the previous one, trying again later.")]
    public static partial void ReloadFailed(ILogger logger, string listener, string what, string error, string message);
}

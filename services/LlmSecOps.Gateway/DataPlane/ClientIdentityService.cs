using System.Collections.Concurrent;
using LlmSecOps.Gateway.Events;
using LlmSecOps.Geo.ClientIdentity;
using LlmSecOps.Geo.Lookup;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// Puts <c>client_ip</c> and <c>country</c> on every data-plane request (issue 4 point 10). The client is the TCP peer
/// unless the peer is a configured trusted proxy; then it is the right-most X-Forwarded-For hop that is not a trusted
/// proxy (RFC 7239 §8.1: everything left of it can be written by the client). The country is the trusted edge header
/// (only from a trusted proxy, two letters, <c>XX</c>/<c>T1</c> meaning "unknown"/"Tor" fall through) else the range
/// database: one binary search, no allocation. Loaded at start-up (a hosted service), not on the first request.
/// </summary>
internal sealed partial class ClientIdentityService : IHostedService
{
    // Every gateway in a test process (and a restarted host) shares one copy per set of files: ~7 MiB, ~0.4 s to load.
    private static readonly ConcurrentDictionary<string, Lazy<GeoIpDatabase>> s_databases = new(StringComparer.Ordinal);

    private const string ForwardedForHeader = "X-Forwarded-For";

    private readonly ClientIdentityResolver _resolver;
    private readonly string? _countryHeader;
    private readonly bool _anyTrusted;

    public ClientIdentityService(IOptions<ClientIdentityOptions> options, ILogger<ClientIdentityService> logger)
    {
        var o = options.Value;
        Database = LoadDatabase(o, logger);
        _resolver = new ClientIdentityResolver(o.ToTrustedProxyOptions(), Database);
        _countryHeader = _resolver.CountryHeader;
        _anyTrusted = o.TrustedProxies.Count > 0;
        Log.Ready(logger, o.TrustedProxies.Count, _countryHeader ?? "(none)", Database.Ipv4SourceRanges, Database.Ipv6SourceRanges);
    }

    /// <summary>The range database in use (<see cref="GeoIpDatabase.Empty"/> when its files are missing).</summary>
    public GeoIpDatabase Database { get; }

    /// <summary>Sets <see cref="RequestOutcome.ClientIp"/> and <see cref="RequestOutcome.Country"/> for this request.</summary>
    public void Apply(HttpContext http, RequestOutcome record)
    {
        var identity = Resolve(http);
        record.ClientIp = identity.ClientIp.ToString();
        record.Country = identity.Country;
    }

    /// <summary>Who sent this request; headers are read only when the TCP peer is a trusted proxy.</summary>
    public ClientIdentity Resolve(HttpContext http)
    {
        var peer = http.Connection.RemoteIpAddress ?? System.Net.IPAddress.None;
        if (!_anyTrusted || !_resolver.IsTrusted(peer))
        {
            return _resolver.Resolve(peer, null, null);
        }

        var headers = http.Request.Headers;
        string? edgeCountry = null;
        if (_countryHeader is not null && headers.TryGetValue(_countryHeader, out var values) && values.Count == 1)
        {
            // Several values are ambiguous: the range database decides instead.
            edgeCountry = values[0];
        }

        var forwarded = headers[ForwardedForHeader];
        return _resolver.Resolve(peer, forwarded.Count == 0 ? null : (IReadOnlyList<string?>)forwarded, edgeCountry);
    }

    Task IHostedService.StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    Task IHostedService.StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static GeoIpDatabase LoadDatabase(ClientIdentityOptions o, ILogger logger)
    {
        var v4 = new FileInfo(o.GeoDatabasePath);
        if (!v4.Exists)
        {
            Log.DatabaseMissing(logger, o.GeoDatabasePath);
            return GeoIpDatabase.Empty;
        }

        FileInfo? v6 = null;
        if (o.GeoDatabaseIpv6Path.Length > 0)
        {
            v6 = new FileInfo(o.GeoDatabaseIpv6Path);
            if (!v6.Exists)
            {
                Log.Ipv6DatabaseMissing(logger, o.GeoDatabaseIpv6Path);
                v6 = null;
            }
        }

        // Keyed by path, size and modification time: a replaced file is loaded afresh.
        var key = Stamp(v4) + "|" + (v6 is null ? "" : Stamp(v6));
        var lazy = s_databases.GetOrAdd(key, _ => new Lazy<GeoIpDatabase>(() => GeoIpDatabase.Load(v4.FullName, v6?.FullName)));
        try
        {
            // A malformed file stops start-up with the file and line (InvalidDataException): a wrong path is a mistake to fix.
            return lazy.Value;
        }
        catch
        {
            s_databases.TryRemove(key, out _);
            throw;
        }
    }

    private static string Stamp(FileInfo file) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{file.FullName}:{file.Length}:{file.LastWriteTimeUtc.Ticks}");

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "The IP range database {Path} does not exist: request events and records carry an empty country unless a trusted edge header gives one. Install it with `apt-get install -y tor-geoipdb` or set ClientIdentity:GeoDatabasePath.")]
        public static partial void DatabaseMissing(ILogger logger, string path);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "The IPv6 range database {Path} does not exist: IPv6 clients get an empty country. Set ClientIdentity:GeoDatabaseIpv6Path, or empty for IPv4 only.")]
        public static partial void Ipv6DatabaseMissing(ILogger logger, string path);

        [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Client identity: {TrustedProxies} trusted proxy range(s), edge country header {CountryHeader}, {Ipv4Ranges} IPv4 and {Ipv6Ranges} IPv6 country ranges.")]
        public static partial void Ready(ILogger logger, int trustedProxies, string countryHeader, int ipv4Ranges, int ipv6Ranges);
    }
}

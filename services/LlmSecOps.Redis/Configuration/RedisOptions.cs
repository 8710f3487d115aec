using System.Globalization;
using System.Net.Security;
using Microsoft.Extensions.Logging;

namespace LlmSecOps.Redis;

/// <summary>
/// How to reach one Redis server. Build it with <see cref="Parse"/> from any of the three connection-string
/// forms the stack meets, or set the properties directly.
/// </summary>
/// <remarks>
/// <para>Accepted forms:</para>
/// <list type="bullet">
/// <item><c>redis://[[user]:password@]host[:port][/database][?key=value&amp;...]</c></item>
/// <item><c>rediss://...</c> — the same with TLS.</item>
/// <item><c>host:port[,password=...][,user=...][,ssl=true][,abortConnect=false][,connectTimeout=ms][,defaultDatabase=n]...</c>
/// — the StackExchange.Redis form that .NET Aspire injects as <c>ConnectionStrings__redis</c>.</item>
/// </list>
/// <para>Secrets never appear in <see cref="ToString"/> nor in exception messages.</para>
/// </remarks>
public sealed class RedisOptions
{
    /// <summary>The default Redis port, 6379.</summary>
    public const int DefaultPort = 6379;

    /// <summary>Host name or IP address. Default <c>localhost</c>.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>TCP port. Default 6379.</summary>
    public int Port { get; set; } = DefaultPort;

    /// <summary>ACL user name (Redis 6+); <see langword="null"/> (the default) authenticates as <c>default</c> when a password is set.</summary>
    public string? User { get; set; }

    /// <summary>Password sent with <c>AUTH</c>; <see langword="null"/> (the default) sends no <c>AUTH</c>.</summary>
    public string? Password { get; set; }

    /// <summary>Database number selected after every (re)connect. Default 0.</summary>
    public int Database { get; set; }

    /// <summary>Use TLS (<c>rediss://</c> or <c>ssl=true</c>). Default <see langword="false"/>.</summary>
    public bool Ssl { get; set; }

    /// <summary>Name the server certificate must carry (and the SNI name). Default: <see cref="Host"/>.</summary>
    public string? SslHost { get; set; }

    /// <summary>
    /// PEM file of an extra certificate authority trusted for the server certificate, in addition to the system
    /// store (connection-string key <c>sslCaFile</c>). Default <see langword="null"/>: the system store only.
    /// </summary>
    public string? SslCaFile { get; set; }

    /// <summary>
    /// Custom server-certificate validation; when set it replaces the default validation entirely (use with care).
    /// Default <see langword="null"/>.
    /// </summary>
    public RemoteCertificateValidationCallback? CertificateValidation { get; set; }

    /// <summary>
    /// When <see langword="true"/> (the default, like StackExchange.Redis) <c>ConnectAsync</c> throws if the first
    /// connection attempt fails. When <see langword="false"/> (<c>abortConnect=false</c>) it returns anyway and keeps
    /// reconnecting in the background; commands fail fast with <see cref="RedisConnectionException"/> meanwhile.
    /// </summary>
    public bool AbortOnConnectFail { get; set; } = true;

    /// <summary>Time allowed for TCP connect + TLS + AUTH/SELECT (<c>connectTimeout</c>, ms). Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Time a command may wait for its reply (<c>syncTimeout</c>/<c>asyncTimeout</c>, ms) before it fails with
    /// <see cref="RedisTimeoutException"/>; blocking reads get their block time on top. Default 5 s.
    /// </summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An idle connection sends <c>PING</c> this often to detect a dead peer (<c>keepAlive</c>, s). Default 10 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First reconnect delay; doubles per failed attempt, with ±20% jitter. Default 100 ms.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Upper bound of the reconnect delay. Default 5 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Sent with <c>CLIENT SETNAME</c> (<c>name</c>). Default <see langword="null"/>: none.</summary>
    public string? ClientName { get; set; }

    /// <summary>
    /// A prefix for keys, streams and channels (<c>keyPrefix</c>). The client does NOT apply it: callers do, so
    /// that one connection can serve several prefixes. Default empty.
    /// </summary>
    public string KeyPrefix { get; set; } = "";

    /// <summary>Where the client logs connection events. Default <see langword="null"/>: no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The endpoint as <c>host:port</c> (no secrets), for messages.</summary>
    public string EndPointText => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Parses a connection string in any of the accepted forms (see the class remarks).</summary>
    /// <exception cref="FormatException">The string is malformed; the message names the offending part, never a secret.</exception>
    public static RedisOptions Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var text = connectionString.Trim();
        if (text.Length == 0)
        {
            throw new FormatException("The Redis connection string is empty. Expected host:port[,password=...] or redis://host:port.");
        }

        var options = new RedisOptions();
        if (text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            ParseUrl(text, options);
        }
        else
        {
            ParseCommaSeparated(text, options);
        }

        options.Validate();
        return options;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid setting at once.</summary>
    public void Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Host))
        {
            errors.Add("Host is empty.");
        }

        if (Port is < 1 or > 65535)
        {
            errors.Add($"Port {Port} is outside 1-65535.");
        }

        if (Database < 0)
        {
            errors.Add($"Database {Database} is negative.");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add("ConnectTimeout must be positive.");
        }

        if (CommandTimeout <= TimeSpan.Zero)
        {
            errors.Add("CommandTimeout must be positive.");
        }

        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay)
        {
            errors.Add("ReconnectMinDelay must be positive and ReconnectMaxDelay at least as large.");
        }

        if (User is not null && Password is null)
        {
            errors.Add("A user was given without a password.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid Redis options: " + string.Join(" ", errors));
        }
    }

    /// <summary>A copy of these options.</summary>
    public RedisOptions Clone() => (RedisOptions)MemberwiseClone();

    /// <summary>The endpoint and flags, without the password.</summary>
    public override string ToString() =>
        $"{(Ssl ? "rediss" : "redis")}://{(User is null ? "" : User + "@")}{EndPointText}/{Database}{(Password is null ? "" : " (password set)")}";

    private static void ParseUrl(string text, RedisOptions options)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException("The Redis URL is malformed. Expected redis://[[user]:password@]host[:port][/database].");
        }

        options.Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase);
        options.Host = uri.Host.TrimStart('[').TrimEnd(']');
        options.Port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':');
            if (colon < 0)
            {
                // redis://password@host is what several clients accept (Redis < 6 had no user names).
                options.Password = Uri.UnescapeDataString(uri.UserInfo);
            }
            else
            {
                var user = Uri.UnescapeDataString(uri.UserInfo[..colon]);
                options.User = user.Length == 0 ? null : user;
                options.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            if (!int.TryParse(path, NumberStyles.None, CultureInfo.InvariantCulture, out var db))
            {
                throw new FormatException($"The Redis URL path '/{path}' is not a database number.");
            }

            options.Database = db;
        }

        var query = uri.Query.TrimStart('?');
        if (query.Length > 0)
        {
            foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                if (eq <= 0)
                {
                    throw new FormatException($"The Redis URL query part '{SafeName(pair)}' is not key=value.");
                }

                ApplySetting(options, Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..]));
            }
        }
    }

    private static void ParseCommaSeparated(string text, RedisOptions options)
    {
        var endpointSeen = false;
        foreach (var rawPart in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = rawPart.IndexOf('=');
            if (eq < 0)
            {
                if (endpointSeen)
                {
                    throw new FormatException("The Redis connection string names more than one endpoint; this client talks to one server.");
                }

                ParseEndpoint(rawPart, options);
                endpointSeen = true;
                continue;
            }

            ApplySetting(options, rawPart[..eq].Trim(), rawPart[(eq + 1)..].Trim());
        }

        if (!endpointSeen)
        {
            throw new FormatException("The Redis connection string names no endpoint (expected host:port first).");
        }
    }

    private static void ParseEndpoint(string endpoint, RedisOptions options)
    {
        string host;
        string? port = null;
        if (endpoint.StartsWith('['))
        {
            var close = endpoint.IndexOf(']');
            if (close < 0)
            {
                throw new FormatException($"The Redis endpoint '{endpoint}' has an unclosed IPv6 bracket.");
            }

            host = endpoint[1..close];
            var rest = endpoint[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    throw new FormatException($"The Redis endpoint '{endpoint}' is malformed.");
                }

                port = rest[1..];
            }
        }
        else
        {
            var colon = endpoint.LastIndexOf(':');
            if (colon >= 0 && endpoint.IndexOf(':') != colon)
            {
                // A bare IPv6 address without brackets and without a port.
                host = endpoint;
            }
            else if (colon >= 0)
            {
                host = endpoint[..colon];
                port = endpoint[(colon + 1)..];
            }
            else
            {
                host = endpoint;
            }
        }

        if (host.Length == 0)
        {
            throw new FormatException($"The Redis endpoint '{endpoint}' has no host.");
        }

        options.Host = host;
        if (port is not null)
        {
            if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
            {
                throw new FormatException($"The Redis endpoint '{endpoint}' has an invalid port.");
            }

            options.Port = p;
        }
    }

    private static void ApplySetting(RedisOptions options, string key, string value)
    {
        switch (key.ToLowerInvariant())
        {
            case "password":
                options.Password = value;
                break;
            case "user":
            case "username":
                options.User = value.Length == 0 ? null : value;
                break;
            case "ssl":
                options.Ssl = ParseBool(key, value);
                break;
            case "sslhost":
                options.SslHost = value;
                break;
            case "sslcafile":
                options.SslCaFile = value;
                break;
            case "abortconnect":
                options.AbortOnConnectFail = ParseBool(key, value);
                break;
            case "connecttimeout":
                options.ConnectTimeout = TimeSpan.FromMilliseconds(ParseInt(key, value, 1));
                break;
            case "synctimeout":
            case "asynctimeout":
            case "commandtimeout":
                options.CommandTimeout = TimeSpan.FromMilliseconds(ParseInt(key, value, 1));
                break;
            case "keepalive":
                options.KeepAliveInterval = TimeSpan.FromSeconds(ParseInt(key, value, 1));
                break;
            case "defaultdatabase":
            case "database":
            case "db":
                options.Database = ParseInt(key, value, 0);
                break;
            case "name":
                options.ClientName = value;
                break;
            case "keyprefix":
                options.KeyPrefix = value;
                break;
            // StackExchange.Redis settings that Aspire or operators may add and that change nothing for a
            // single-endpoint client: accepted and ignored.
            case "allowadmin":
            case "resolvedns":
            case "connectretry":
            case "tiebreaker":
            case "version":
            case "configcheckseconds":
            case "setlib":
            case "protocol" when value.Equals("resp2", StringComparison.OrdinalIgnoreCase):
                break;
            default:
                throw new FormatException($"The Redis connection-string setting '{SafeName(key)}' is not supported.");
        }
    }

    private static bool ParseBool(string key, string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "1" => true,
        "false" or "no" or "0" => false,
        _ => throw new FormatException($"The Redis setting '{SafeName(key)}' must be true or false."),
    };

    private static int ParseInt(string key, string value, int min)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
        {
            throw new FormatException($"The Redis setting '{SafeName(key)}' must be an integer >= {min}.");
        }

        return n;
    }

    // Names only, bounded: a malformed part could be a secret, so never echo a whole value.
    private static string SafeName(string s)
    {
        var eq = s.IndexOf('=');
        var name = eq >= 0 ? s[..eq] : s;
        return name.Length > 40 ? name[..40] + "..." : name;
    }
}

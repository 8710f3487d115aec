using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace LlmSecOps.Testing.Redis;

/// <summary>Options of a throw-away <c>redis-server</c>.</summary>
public sealed record RedisServerOptions
{
    /// <summary>requirepass; null for none.</summary>
    public string? Password { get; init; }

    /// <summary>appendonly yes + appendfsync always (every acknowledged write is on disk).</summary>
    public bool AppendOnly { get; init; }

    /// <summary>Serve TLS only, with a generated self-signed CA and server certificate.</summary>
    public bool Tls { get; init; }

    /// <summary>Port; 0 picks a free one.</summary>
    public int Port { get; init; }
}

/// <summary>
/// A real <c>redis-server</c> on 127.0.0.1 in its own temp folder. <see cref="Kill"/> sends SIGKILL;
/// <see cref="RestartAsync"/> starts it again on the same port with the same data folder.
/// </summary>
public sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly RedisServerOptions _options;
    private readonly string _dir;
    private Process? _process;
    private readonly StringBuilder _output = new();

    private RedisServerProcess(RedisServerOptions options, string dir, int port)
    {
        _options = options;
        _dir = dir;
        Port = port;
    }

    /// <summary>The port it listens on (TLS port when <see cref="RedisServerOptions.Tls"/>).</summary>
    public int Port { get; }

    /// <summary>The data folder.</summary>
    public string Directory => _dir;

    /// <summary>PEM file of the CA that signed the server certificate (TLS only).</summary>
    public string? CaCertificatePath { get; private set; }

    /// <summary>The CA certificate (TLS only), for clients that validate against it.</summary>
    public X509Certificate2? CaCertificate { get; private set; }

    /// <summary>Connection string in the <c>host:port,password=...,ssl=true</c> form Aspire writes.</summary>
    public string ConnectionString =>
        $"127.0.0.1:{Port}" + (_options.Password is null ? "" : $",password={_options.Password}") + (_options.Tls ? ",ssl=true" : "");

    /// <summary>True while the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a server; throws <see cref="ServerUnavailableException"/> naming the fix when it cannot.</summary>
    public static async Task<RedisServerProcess> StartAsync(RedisServerOptions? options = null)
    {
        options ??= new RedisServerOptions();
        var dir = System.IO.Directory.CreateTempSubdirectory("llmsecops-redis-").FullName;
        var server = new RedisServerProcess(options, dir, options.Port == 0 ? FreePort.Get() : options.Port);
        if (options.Tls)
        {
            server.WriteCertificates();
        }

        TestServers.TrackForExit(() => server.DisposeAsync().AsTask().Wait());
        await server.LaunchAsync();
        return server;
    }

    /// <summary>SIGKILL: no shutdown, no final save.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(5000);
        }
    }

    /// <summary>
    /// SIGSTOP: the process keeps its sockets open but answers nothing — a hung or black-holed server, which a
    /// client can only detect by timeouts. Undo with <see cref="Resume"/>.
    /// </summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>Starts the server again on the same port and data folder (after <see cref="Kill"/>).</summary>
    public Task RestartAsync()
    {
        Kill();
        return LaunchAsync();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Resume();
        Kill();
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a temp folder left behind is harmless
        }

        CaCertificate?.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task LaunchAsync()
    {
        var psi = new ProcessStartInfo(ServerBinaries.RedisServer())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dir,
        };
        foreach (var arg in Arguments())
        {
            psi.ArgumentList.Add(arg);
        }

        _output.Clear();
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        if (!process.Start())
        {
            throw new ServerUnavailableException("redis-server did not start.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitReadyAsync(TimeSpan.FromSeconds(15));
    }

    private void Signal(string signal)
    {
        if (_process is not { HasExited: false } p)
        {
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        });
        kill?.WaitForExit(5000);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 64 * 1024)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Diagnostics()
    {
        lock (_output)
        {
            return $"redis-server output:\n{_output}";
        }
    }

    private IEnumerable<string> Arguments()
    {
        yield return "--bind";
        yield return "127.0.0.1";
        yield return "--save";
        yield return "";
        yield return "--dir";
        yield return _dir;
        yield return "--daemonize";
        yield return "no";
        yield return "--protected-mode";
        yield return "yes";
        yield return "--appendonly";
        yield return _options.AppendOnly ? "yes" : "no";
        if (_options.AppendOnly)
        {
            yield return "--appendfsync";
            yield return "always";
        }

        if (_options.Password is not null)
        {
            yield return "--requirepass";
            yield return _options.Password;
        }

        if (_options.Tls)
        {
            yield return "--port";
            yield return "0";
            yield return "--tls-port";
            yield return Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            yield return "--tls-cert-file";
            yield return Path.Combine(_dir, "server.crt");
            yield return "--tls-key-file";
            yield return Path.Combine(_dir, "server.key");
            yield return "--tls-ca-cert-file";
            yield return Path.Combine(_dir, "ca.crt");
            yield return "--tls-auth-clients";
            yield return "no";
        }
        else
        {
            yield return "--port";
            yield return Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process is { HasExited: true })
            {
                throw new ServerUnavailableException($"redis-server exited at start. {Diagnostics()}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                if (_options.Tls)
                {
                    return;
                }

                var stream = client.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[64];
                var n = await stream.ReadAsync(buffer);
                var reply = Encoding.ASCII.GetString(buffer, 0, n);

                // "-LOADING" while the AOF is replayed after a restart; NOAUTH means it is up and wants a password.
                if (reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // not yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new ServerUnavailableException($"redis-server not ready on 127.0.0.1:{Port} after {timeout.TotalSeconds:0} s. {Diagnostics()}");
            }

            await Task.Delay(50);
        }
    }

    private void WriteCertificates()
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=LlmSecOps Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), RandomNumberGenerator.GetBytes(8));

        File.WriteAllText(Path.Combine(_dir, "ca.crt"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, "server.crt"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, "server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        CaCertificatePath = Path.Combine(_dir, "ca.crt");
        CaCertificate = X509CertificateLoader.LoadCertificate(ca.Export(X509ContentType.Cert));
        ca.Dispose();
    }
}

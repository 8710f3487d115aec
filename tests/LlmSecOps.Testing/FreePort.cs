using System.Net;
using System.Net.Sockets;

namespace LlmSecOps.Testing;

/// <summary>Free loopback TCP ports.</summary>
public static class FreePort
{
    private static readonly Lock Sync = new();
    private static readonly (int Low, int Count) Range = ChooseRange();
    private static int _next = Random.Shared.Next(Range.Count);

    /// <summary>
    /// A loopback port that is free now and is not in the kernel's ephemeral range. Ports the OS hands out for
    /// port 0 come from the same range as the local ports of outgoing connections, so a port "reserved" that way can
    /// be taken by any client socket (a Postgres or Redis connection of a parallel test) before the server binds it,
    /// or while a test has a server killed and about to restart on it. Below the ephemeral range only listeners
    /// compete, each test process starts at a random offset, and every candidate is checked by binding it.
    /// </summary>
    public static int Get()
    {
        if (Range.Count == 0)
        {
            return OsChosen();
        }

        for (var attempt = 0; attempt < 1000; attempt++)
        {
            int port;
            lock (Sync)
            {
                port = Range.Low + (_next++ % Range.Count);
            }

            if (IsFree(port))
            {
                return port;
            }
        }

        return OsChosen();
    }

    private static int OsChosen()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            socket.Listen(1);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>[10000, start of the ephemeral range), read from /proc; empty where that is unknown or too small.</summary>
    private static (int Low, int Count) ChooseRange()
    {
        const int Low = 10000;
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
            var ephemeralLow = int.Parse(text.Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
            return ephemeralLow - Low >= 2000 ? (Low, ephemeralLow - Low) : (0, 0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }

    /// <summary>Waits until something accepts TCP connections on the port, or throws after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilListeningAsync(int port, TimeSpan timeout, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            catch (SocketException ex)
            {
                throw new ServerUnavailableException($"Nothing listens on 127.0.0.1:{port} after {timeout.TotalSeconds:0} s. {diagnostics?.Invoke()}", ex);
            }
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LlmSecOps.Simulator.Tests.State;

public sealed class RequestLogTests
{
    [Fact]
    public async Task EveryRequestIsRecordedWithRawTargetHeadersAndBodyEvenForUnknownRoutes()
    {
        await using var sim = await SimulatorHost.StartAsync();

        // Raw bytes on a socket, so no client library normalises the target.
        var body = """{"model":"llama3.2:1b"}""";
        var response = await SendRawAsync(sim, "POST /api/%2e%2e//pull%2F?x=1 HTTP/1.1\r\nHost: spoofed.example:8081\r\n" +
            "Authorization: Bearer lso_test_secret\r\nX-Api-Key: abc\r\nX-Trace: one\r\nX-Trace: two\r\n" +
            $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");

        Assert.StartsWith("HTTP/1.1 404", response, StringComparison.Ordinal);
        var entry = Assert.Single(sim.State.Requests.Snapshot());
        Assert.Equal("POST", entry.Method);
        Assert.Equal("/api/%2e%2e//pull%2F?x=1", entry.RawTarget);
        Assert.Equal("spoofed.example:8081", entry.Header("host"));
        Assert.Equal("Bearer lso_test_secret", entry.Header("Authorization"));
        Assert.Equal("abc", entry.Header("x-api-key"));
        Assert.Equal(["one", "two"], entry.HeaderValues("X-Trace"));
        Assert.Equal(body.Length, entry.BodyBytes);
        Assert.Equal(body, entry.Body);
        Assert.Equal(1, entry.Sequence);
    }

    [Fact]
    public async Task ModelManagementRequestsAreRecordedToo()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var _1 = await client.PostJsonAsync("/api/pull", """{"model":"x"}""");
        using var _2 = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/delete") { Content = new StringContent("""{"model":"x"}""") });
        using var _3 = await client.GetAsync("/api/ps");

        Assert.Equal(["POST /api/pull", "DELETE /api/delete", "GET /api/ps"], sim.State.Requests.Snapshot().Select(r => $"{r.Method} {r.Path}"));
    }

    [Fact]
    public async Task ControlApiRequestsAreNotRecorded()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);

        using var _1 = await client.GetAsync("/_sim/requests");
        using var _2 = await client.GetAsync("/_sim/switches");
        using var _3 = await client.GetAsync("/api/version");

        Assert.Equal(["/api/version"], sim.State.Requests.Snapshot().Select(r => r.Path));
    }

    [Fact]
    public async Task TheLogIsARingBufferThatKeepsTheNewestEntries()
    {
        await using var sim = await SimulatorHost.StartAsync(configure: b => b.Configuration["Simulator:RequestLogCapacity"] = "3");
        using var client = SimTest.Client(sim);

        for (var i = 1; i <= 5; i++)
        {
            using var _ = await client.GetAsync($"/api/version?i={i}");
        }

        Assert.Equal(5, sim.State.Requests.TotalRecorded);
        Assert.Equal(["/api/version?i=3", "/api/version?i=4", "/api/version?i=5"], sim.State.Requests.Snapshot().Select(r => r.RawTarget));
        Assert.Equal([5L], sim.State.Requests.Snapshot(afterSequence: 4).Select(r => r.Sequence));
    }

    [Fact]
    public async Task TheControlApiServesAndClearsTheLog()
    {
        await using var sim = await SimulatorHost.StartAsync();
        using var client = SimTest.Client(sim);
        using var _ = await client.PostJsonAsync("/v1/embeddings", """{"model":"nomic-embed-text","input":"hi"}""");

        var log = await (await client.GetAsync("/_sim/requests")).JsonAsync();
        using var clear = await client.DeleteAsync("/_sim/requests");
        var after = await (await client.GetAsync("/_sim/requests")).JsonAsync();

        Assert.Equal(1, (int)log["total"]!);
        var entry = log["requests"]![0]!.AsObject();
        Assert.Equal(["sequence", "timestamp", "method", "rawTarget", "path", "headers", "bodyBytes", "body"], entry.Names());
        Assert.Equal("/v1/embeddings", (string?)entry["path"]);
        Assert.Contains(entry["headers"]!.AsArray(), h => (string?)h![0] == "Host");
        Assert.Equal(HttpStatusCode.NoContent, clear.StatusCode);
        Assert.Empty(after["requests"]!.AsArray());
    }

    private static async Task<string> SendRawAsync(SimulatorHost sim, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sim.BaseAddress.Host, sim.BaseAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadToEndAsync();
    }
}

using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmSecOps.Cli.Api;
using LlmSecOps.Cli.Output;

namespace LlmSecOps.Cli;

/// <summary>What a command's action gets: its parse result, the API client, the renderer and cancellation.</summary>
public sealed class ApiContext(ParseResult parse, AdminClient client, Renderer output, CliHost host, CancellationToken cancellationToken)
{
    /// <summary>The parsed command line.</summary>
    public ParseResult Parse { get; } = parse;

    /// <summary>The admin API.</summary>
    public AdminClient Client { get; } = client;

    /// <summary>Where results go.</summary>
    public Renderer Output { get; } = output;

    /// <summary>Console, environment, clock.</summary>
    public CliHost Host { get; } = host;

    /// <summary>Cancelled on Ctrl+C.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>GET a path.</summary>
    public Task<JsonElement?> GetAsync(string path) => Client.GetAsync(path, CancellationToken);

    /// <summary>POST a body (or none).</summary>
    public Task<JsonElement?> PostAsync(string path, JsonObject? body = null) => Client.SendAsync(HttpMethod.Post, path, body, CancellationToken);

    /// <summary>PUT a body.</summary>
    public Task<JsonElement?> PutAsync(string path, JsonObject body) => Client.SendAsync(HttpMethod.Put, path, body, CancellationToken);

    /// <summary>DELETE a path.</summary>
    public Task<JsonElement?> DeleteAsync(string path) => Client.SendAsync(HttpMethod.Delete, path, null, CancellationToken);
}

/// <summary>Wires a command to the admin API with one uniform error-to-exit-code mapping.</summary>
public static class ApiCommand
{
    /// <summary>
    /// Sets <paramref name="command"/>'s action: resolve the target from the global options and environment, run
    /// <paramref name="run"/>, and map failures to exit codes (API refusal 1, usage 2, unreachable 3, 401/403 4).
    /// </summary>
    public static void SetApiAction(this Command command, CliHost host, GlobalOptions global, Func<ApiContext, Task<int>> run)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = new Renderer(host, parse.GetValue(global.Json));
            try
            {
                var target = AdminTarget.Resolve(parse.GetValue(global.Url), parse.GetValue(global.Token), parse.GetValue(global.Insecure), host.Environment);
                using var client = new AdminClient(target, TimeSpan.FromSeconds(parse.GetValue(global.Timeout)));
                return await run(new ApiContext(parse, client, output, host, cancellationToken));
            }
            catch (AdminApiException ex)
            {
                output.Problem(ex);
                return ex.ExitCode;
            }
            catch (CliException ex)
            {
                output.Error(ex.Message);
                return ex.ExitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                output.Error("cancelled; a request already sent may still have taken effect (check with a get or list).");
                return ExitCodes.Cancelled;
            }
        });
    }

    /// <summary>One path segment, percent-encoded (ids and model names such as <c>llama3:8b</c>).</summary>
    public static string Segment(string value) => Uri.EscapeDataString(value);

    /// <summary>A query string from the non-empty pairs (<c>?a=1&amp;b=2</c>, or empty).</summary>
    public static string Query(params (string Name, string? Value)[] pairs)
    {
        var parts = pairs.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}

using LlmSecOps.Simulator.Control;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.Ollama;
using LlmSecOps.Simulator.OpenAI;
using LlmSecOps.Simulator.State;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Simulator;

/// <summary>
/// A TEST DOUBLE of an LLM server: speaks Ollama's native API and the OpenAI API with deterministic text, so tests,
/// benchmarks and <c>./run.sh</c> work without a GPU. Not a model, not for production.
/// </summary>
public static class SimulatorApp
{
    /// <summary>
    /// Builds the simulator. Listen addresses come from <c>--urls</c> / <c>ASPNETCORE_URLS</c> (default
    /// <c>http://127.0.0.1:11434</c>, Ollama's port). Tests pass <c>--urls http://127.0.0.1:0</c> and read the bound
    /// address from the server's addresses feature after start; the <see cref="SimulatorState"/> singleton in
    /// <c>app.Services</c> flips switches and reads the request log without HTTP.
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls("http://127.0.0.1:11434");
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = 32 * 1024 * 1024;
        });
        // Per-request framework logs would dominate a benchmark: keep Microsoft.* at Warning, except the line that
        // says where it listens (run.sh prints it). The simulator's own events are Information.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.Services.AddOptions<SimulatorOptions>().BindConfiguration(SimulatorOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SimulatorOptions>, SimulatorOptionsValidator>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SimulatorState>();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseMiddleware<RequestRecordingMiddleware>();
        app.UseRouting();
        app.MapOllamaInference();
        app.MapOllamaModels();
        app.MapOpenAI();
        app.MapControl();
        // Unknown routes answer like Ollama's Go router (and are in the request log like everything else).
        app.MapFallback(static context =>
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "text/plain";
            return context.Response.WriteAsync("404 page not found");
        });
        return app;
    }
}

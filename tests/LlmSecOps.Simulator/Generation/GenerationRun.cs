using System.Buffers;
using System.Diagnostics;
using LlmSecOps.Simulator.Http;
using LlmSecOps.Simulator.State;

namespace LlmSecOps.Simulator.Generation;

/// <summary>The wire format of a streamed response, for the error frame of a simulated failure.</summary>
internal enum StreamFormat
{
    OllamaNdjson,
    OpenAISse,
}

/// <summary>
/// One generation: how many tokens, why it ends, and the timing and failure switches applied while it runs.
/// The switches are read once when the request starts, so flipping them affects later requests only.
/// </summary>
internal sealed class GenerationRun
{
    private readonly HttpContext _context;
    private readonly SimulatorSwitches _switches;
    private readonly ILogger _logger;
    private readonly Pacer _pacer;
    private readonly long _start;
    private long _firstTokenAt;

    private GenerationRun(HttpContext context, SimulatorState state, long? limit, long start)
    {
        _context = context;
        _switches = state.Switches;
        _logger = state.Logger;
        _start = start;
        _pacer = new Pacer(start, _switches.FirstTokenDelayMs, _switches.TokensPerSecond);
        NaturalLength = _switches.ScriptedTokens?.Count ?? _switches.CompletionTokens;
        if (limit is { } max && !_switches.IgnoreMaxTokens && max < NaturalLength)
        {
            Count = (int)Math.Max(max, 0);
            FinishReason = "length";
        }
        else
        {
            Count = NaturalLength;
            FinishReason = "stop";
        }
    }

    /// <summary>Tokens this generation produces (per choice).</summary>
    public int Count { get; }

    /// <summary>Tokens the text would have without a limit (decides where the final full stop goes).</summary>
    public int NaturalLength { get; }

    /// <summary>Token <paramref name="index"/> of the choice seeded <paramref name="seed"/>: scripted when <see cref="SimulatorSwitches.ScriptedTokens"/> is set, else generated.</summary>
    public string Token(ulong seed, int index) =>
        _switches.ScriptedTokens is { } scripted ? scripted[index] : TextGenerator.Token(seed, index, NaturalLength);

    /// <summary>The whole completion (<see cref="Count"/> tokens) of the choice seeded <paramref name="seed"/>.</summary>
    public string Text(ulong seed) =>
        _switches.ScriptedTokens is { } scripted ? string.Concat(scripted.Take(Count)) : TextGenerator.Text(seed, Count, NaturalLength);

    /// <summary><c>stop</c>, or <c>length</c> when the request's limit cut the text (and IgnoreMaxTokens is off).</summary>
    public string FinishReason { get; }

    /// <summary>
    /// Plans a generation. <paramref name="limit"/> is the request's effective token limit (null = none).
    /// </summary>
    public static GenerationRun Start(HttpContext context, SimulatorState state, long? limit, long start) =>
        new(context, state, limit, start);

    /// <summary>Nanoseconds from request start to the first token (Ollama's prompt_eval_duration), at least 1.</summary>
    public long PromptEvalNanoseconds => Math.Max(1, ToNanoseconds((_firstTokenAt == 0 ? Stopwatch.GetTimestamp() : _firstTokenAt) - _start));

    /// <summary>Nanoseconds from the first token to now (Ollama's eval_duration), at least 1.</summary>
    public long EvalNanoseconds => Math.Max(1, ToNanoseconds(Stopwatch.GetTimestamp() - (_firstTokenAt == 0 ? _start : _firstTokenAt)));

    /// <summary>Nanoseconds since the request started (Ollama's total_duration).</summary>
    public long TotalNanoseconds => Math.Max(1, ToNanoseconds(Stopwatch.GetTimestamp() - _start));

    /// <summary>
    /// Streaming: call before token <paramref name="index"/> (and with index = <see cref="Count"/> before the final
    /// frame). Waits until it is due, applies the fail/stall switches, and returns false when the stream must end here.
    /// </summary>
    public async ValueTask<bool> BeforeTokenAsync(int index, StreamFormat format)
    {
        if (_switches.StallMidStreamAfterTokens == index)
        {
            await StallAsync(index);
            return false;
        }

        if (_switches.FailMidStreamAfterTokens == index)
        {
            await FailStreamAsync(format, index);
            return false;
        }

        await _pacer.WaitForTokenAsync(index, _context.RequestAborted);
        if (index == 0)
        {
            _firstTokenAt = Stopwatch.GetTimestamp();
        }

        return true;
    }

    /// <summary>
    /// Non-streaming: waits as long as generating would take and applies the fail/stall switches when they would
    /// trigger within this generation. Returns false when the response was already dealt with.
    /// </summary>
    public async ValueTask<bool> GenerateAllAsync(bool openAI)
    {
        if (_switches.StallMidStreamAfterTokens <= Count)
        {
            await StallAsync(_switches.StallMidStreamAfterTokens.Value);
            return false;
        }

        if (_switches.FailMidStreamAfterTokens <= Count)
        {
            LogFailure(_switches.FailMidStreamAfterTokens.Value);
            if (_switches.FailureMode == FailureMode.Abort)
            {
                _context.Abort();
            }
            else if (openAI)
            {
                await ApiErrors.OpenAIAsync(_context, 500, SimulatedFailureMessage, "server_error");
            }
            else
            {
                await ApiErrors.OllamaAsync(_context, 500, SimulatedFailureMessage);
            }

            return false;
        }

        await _pacer.WaitForTokenAsync(0, _context.RequestAborted);
        _firstTokenAt = Stopwatch.GetTimestamp();
        await _pacer.WaitForTokenAsync(Count, _context.RequestAborted);
        return true;
    }

    private static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(50);

    internal const string SimulatedFailureMessage = "simulated upstream failure mid-stream (FailMidStreamAfterTokens switch)";

    private void LogFailure(int tokens) =>
        SimulatorLog.SimulatedFailure(_logger, _switches.FailureMode, _context.Request.Method, _context.Request.Path.Value ?? "", tokens);

    private async Task FailStreamAsync(StreamFormat format, int tokens)
    {
        LogFailure(tokens);
        if (_switches.FailureMode == FailureMode.Abort)
        {
            // A flush hands the bytes to the transport, not to the socket: give it a moment to send what the client
            // should see before the connection is torn down, as a crashing upstream's kernel would.
            await _context.Response.BodyWriter.FlushAsync(_context.RequestAborted);
            await Task.Delay(AbortGrace, _context.RequestAborted);
            _context.Abort();
            return;
        }

        using var writer = JsonOutput.CreateStreamWriter(_context);
        var output = _context.Response.BodyWriter;
        if (format == StreamFormat.OpenAISse)
        {
            output.Write("data: "u8);
            ApiErrors.WriteOpenAIError(writer, SimulatedFailureMessage, "server_error", null, null);
            writer.Flush();
            output.Write("\n\n"u8);
        }
        else
        {
            writer.WriteStartObject();
            writer.WriteString("error"u8, SimulatedFailureMessage);
            writer.WriteEndObject();
            writer.Flush();
            output.Write("\n"u8);
        }

        await output.FlushAsync(_context.RequestAborted);
    }

    private async Task StallAsync(int tokens)
    {
        SimulatorLog.SimulatedStall(_logger, _context.Request.Method, _context.Request.Path.Value ?? "", tokens);
        await _context.Response.BodyWriter.FlushAsync(_context.RequestAborted);
        var stopping = _context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_context.RequestAborted, stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, linked.Token);
        }
        catch (OperationCanceledException)
        {
            // The client went away or the simulator is stopping: drop the connection, as a hung upstream would.
            _context.Abort();
        }
    }

    private static long ToNanoseconds(long stopwatchTicks) => (long)(stopwatchTicks * (1_000_000_000.0 / Stopwatch.Frequency));
}

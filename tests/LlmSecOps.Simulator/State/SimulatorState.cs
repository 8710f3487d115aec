using LlmSecOps.Simulator.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Simulator.State;

/// <summary>
/// The simulator's mutable state, a singleton: the model catalogue, the request log and the behaviour switches.
/// Tests running the simulator in-process get it with <c>app.Services.GetRequiredService&lt;SimulatorState&gt;()</c>;
/// out-of-process users reach the same operations through the control API under <c>/_sim/</c>.
/// </summary>
public sealed class SimulatorState
{
    private readonly SimulatorOptions _options;
    private SimulatorSwitches _switches;
    private int _failStatusRemaining;

    /// <summary>Creates the state from the validated options.</summary>
    public SimulatorState(IOptions<SimulatorOptions> options, TimeProvider time, ILogger<SimulatorState>? logger = null)
    {
        _options = options.Value;
        Logger = logger ?? NullLogger<SimulatorState>.Instance;
        Models = new ModelCatalog(_options.Models, time, Logger);
        Requests = new RequestLog(_options.RequestLogCapacity);
        _switches = DefaultSwitches();
    }

    /// <summary>The models served now.</summary>
    public ModelCatalog Models { get; }

    /// <summary>Every request received (the control API's own requests excepted).</summary>
    public RequestLog Requests { get; }

    /// <summary>The current switches.</summary>
    public SimulatorSwitches Switches => Volatile.Read(ref _switches);

    internal SimulatorOptions Options => _options;

    internal ILogger Logger { get; }

    /// <summary>Changes switches atomically, e.g. <c>state.UpdateSwitches(s =&gt; s with { IgnoreMaxTokens = true })</c>.</summary>
    public SimulatorSwitches UpdateSwitches(Func<SimulatorSwitches, SimulatorSwitches> change)
    {
        while (true)
        {
            var current = Volatile.Read(ref _switches);
            var next = change(current);
            Validate(next);
            if (ReferenceEquals(Interlocked.CompareExchange(ref _switches, next, current), current))
            {
                if (next.FailStatusCode != current.FailStatusCode || next.FailStatusCount != current.FailStatusCount)
                {
                    // Restart the countdown only when the failure switch itself changed.
                    Interlocked.Exchange(ref _failStatusRemaining, next.FailStatusCount ?? -1);
                }

                SimulatorLog.SwitchesChanged(Logger, next);
                return next;
            }
        }
    }

    /// <summary>Restores the configured switches and models, and clears the request log.</summary>
    public void Reset()
    {
        Volatile.Write(ref _switches, DefaultSwitches());
        Interlocked.Exchange(ref _failStatusRemaining, -1);
        Models.Reset();
        Requests.Clear();
        SimulatorLog.StateReset(Logger);
    }

    /// <summary>Restores only the configured switches.</summary>
    public void ResetSwitches()
    {
        Volatile.Write(ref _switches, DefaultSwitches());
        Interlocked.Exchange(ref _failStatusRemaining, -1);
    }

    /// <summary>The status code to fail this request with, or null; counts down <see cref="SimulatorSwitches.FailStatusCount"/>.</summary>
    internal int? TakeFailStatus()
    {
        var switches = Switches;
        if (switches.FailStatusCode is not { } status)
        {
            return null;
        }

        if (switches.FailStatusCount is null)
        {
            return status;
        }

        // Count down to zero and stay there: only the first FailStatusCount requests fail.
        while (true)
        {
            var remaining = Volatile.Read(ref _failStatusRemaining);
            if (remaining <= 0)
            {
                return null;
            }

            if (Interlocked.CompareExchange(ref _failStatusRemaining, remaining - 1, remaining) == remaining)
            {
                return status;
            }
        }
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid switch value.</summary>
    internal static void Validate(SimulatorSwitches switches)
    {
        var errors = new List<string>();
        if (switches.CompletionTokens is < 1 or > 1_000_000)
        {
            errors.Add("completionTokens must be 1..1000000");
        }

        if (switches.ScriptedTokens is { } scripted && (scripted.Count is < 1 or > 100_000 || scripted.Any(t => t is null)))
        {
            errors.Add("scriptedTokens must be null or 1..100000 strings");
        }

        if (switches.TokensPerSecond < 0 || double.IsNaN(switches.TokensPerSecond) || double.IsInfinity(switches.TokensPerSecond))
        {
            errors.Add("tokensPerSecond must be a finite number >= 0");
        }

        if (switches.FirstTokenDelayMs is < 0 or > 3_600_000)
        {
            errors.Add("firstTokenDelayMs must be 0..3600000");
        }

        if (switches.FailMidStreamAfterTokens < 0)
        {
            errors.Add("failMidStreamAfterTokens must be >= 0");
        }

        if (switches.StallMidStreamAfterTokens < 0)
        {
            errors.Add("stallMidStreamAfterTokens must be >= 0");
        }

        if (switches.FailStatusCode is < 400 or > 599)
        {
            errors.Add("failStatusCode must be 400..599");
        }

        if (switches.FailStatusCount < 0)
        {
            errors.Add("failStatusCount must be >= 0");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors));
        }
    }

    private SimulatorSwitches DefaultSwitches() => new()
    {
        CompletionTokens = _options.CompletionTokens,
        TokensPerSecond = _options.TokensPerSecond,
        FirstTokenDelayMs = _options.FirstTokenDelayMs,
    };
}

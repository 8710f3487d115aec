using System.Diagnostics;

namespace LlmSecOps.Simulator.Generation;

/// <summary>
/// Schedules tokens: token <c>i</c> is due at <c>firstTokenDelay + i / tokensPerSecond</c> after the request started,
/// measured against one clock so delays do not accumulate drift. Awaits timers, never blocks a thread.
/// </summary>
internal readonly struct Pacer
{
    private readonly long _start;
    private readonly double _firstTokenDelayMs;
    private readonly double _msPerToken;

    public Pacer(long startTimestamp, int firstTokenDelayMs, double tokensPerSecond)
    {
        _start = startTimestamp;
        _firstTokenDelayMs = firstTokenDelayMs;
        _msPerToken = tokensPerSecond > 0 ? 1000.0 / tokensPerSecond : 0;
    }

    /// <summary>Waits until token <paramref name="index"/> is due (index = count waits until the end of generation).</summary>
    public ValueTask WaitForTokenAsync(int index, CancellationToken cancellationToken)
    {
        var dueMs = _firstTokenDelayMs + (index * _msPerToken);
        if (dueMs <= 0)
        {
            return ValueTask.CompletedTask;
        }

        var remaining = dueMs - Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
        return remaining >= 1
            ? new ValueTask(Task.Delay(TimeSpan.FromMilliseconds(remaining), cancellationToken))
            : ValueTask.CompletedTask;
    }
}

namespace LlmSecOps.AnomalyScorer.Tests.EndToEnd;

/// <summary>
/// A clock the test moves (accelerated event time), shared by the gateway and the scorer. Timers stay on real time
/// (the base <see cref="TimeProvider.CreateTimer"/>), so background loops keep running.
/// </summary>
internal sealed class SteppedClock(DateTimeOffset start) : TimeProvider
{
    private long _nowMs = start.ToUnixTimeMilliseconds();

    public void Set(DateTimeOffset at) => Interlocked.Exchange(ref _nowMs, at.ToUnixTimeMilliseconds());

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _nowMs));
}

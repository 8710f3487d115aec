using System.Text.Json.Serialization;
using LlmSecOps.Data.Batching;

namespace LlmSecOps.Data.Tests.Batching;

/// <summary>A request-record stand-in: a unique id (what sinks de-duplicate on), an order number and a payload.</summary>
public sealed record TestRecord(Guid Id, long Seq, string Payload)
{
    public static readonly IRecordSerializer<TestRecord> Serializer = new JsonRecordSerializer<TestRecord>(TestRecordJson.Default.TestRecord);

    public static TestRecord Make(long seq) => new(Guid.NewGuid(), seq, "payload-" + seq);
}

[JsonSerializable(typeof(TestRecord))]
internal sealed partial class TestRecordJson : JsonSerializerContext;

/// <summary>
/// An in-process sink that can be switched off, for the writer's own logic (the real Postgres and Redis sinks are
/// exercised against real servers in the other test classes).
/// </summary>
internal sealed class SwitchableSink : IBatchSink<TestRecord>
{
    private readonly Lock _sync = new();
    private readonly List<TestRecord> _stored = [];

    public volatile bool Down;

    public int Calls;

    public List<TestRecord> Stored
    {
        get
        {
            lock (_sync)
            {
                return [.. _stored];
            }
        }
    }

    public Task WriteAsync(IReadOnlyList<TestRecord> batch, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Calls);
        if (Down)
        {
            throw new InvalidOperationException("sink is down");
        }

        lock (_sync)
        {
            _stored.AddRange(batch);
        }

        return Task.CompletedTask;
    }
}

internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {seconds} s waiting for: {what}");
            }

            await Task.Delay(20);
        }
    }
}

using Microsoft.Extensions.Logging;

namespace LlmSecOps.Data.Batching;

internal static partial class Log
{
    [LoggerMessage(EventId = 8121, Level = LogLevel.Warning, Message = "Pipeline {Pipeline}: the sink failed on a batch of {Count}; spilling records to the journal until it recovers")]
    public static partial void SinkFailed(ILogger logger, string pipeline, int count, Exception exception);

    [LoggerMessage(EventId = 8122, Level = LogLevel.Debug, Message = "Pipeline {Pipeline}: the sink is still failing; next probe in {DelayMs} ms")]
    public static partial void ProbeFailed(ILogger logger, string pipeline, long delayMs, Exception exception);

    [LoggerMessage(EventId = 8123, Level = LogLevel.Information, Message = "Pipeline {Pipeline}: journal drained into the sink; writing directly again")]
    public static partial void Resumed(ILogger logger, string pipeline);

    [LoggerMessage(EventId = 8124, Level = LogLevel.Warning, Message = "Pipeline {Pipeline}: the journal is full and the sink is down; holding {Count} record(s) in memory and refusing new ones")]
    public static partial void JournalFull(ILogger logger, string pipeline, int count);

    [LoggerMessage(EventId = 8125, Level = LogLevel.Error, Message = "Pipeline {Pipeline}: {Count} record(s) LOST: {Reason}")]
    public static partial void Lost(ILogger logger, string pipeline, int count, string reason);

    [LoggerMessage(EventId = 8126, Level = LogLevel.Information, Message = "Pipeline {Pipeline}: starting with {Pending} journaled record(s) to drain")]
    public static partial void StartingWithBacklog(ILogger logger, string pipeline, long pending);

    [LoggerMessage(EventId = 8127, Level = LogLevel.Error, Message = "Pipeline {Pipeline}: appending to the journal failed; retrying")]
    public static partial void JournalWriteFailed(ILogger logger, string pipeline, Exception exception);
}

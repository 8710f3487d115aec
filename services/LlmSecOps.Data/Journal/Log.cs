using Microsoft.Extensions.Logging;

namespace LlmSecOps.Data.Journal;

internal static partial class Log
{
    [LoggerMessage(EventId = 8101, Level = LogLevel.Information, Message = "Record journal opened at {Directory}: {Segments} segment(s), {Bytes} bytes, {Pending} record(s) not yet consumed")]
    public static partial void Opened(ILogger logger, string directory, int segments, long bytes, long pending);

    [LoggerMessage(EventId = 8102, Level = LogLevel.Warning, Message = "Record journal segment {Segment} has a torn or corrupt record at offset {Offset}: truncated {Dropped} byte(s) there (a crash mid-write)")]
    public static partial void Truncated(ILogger logger, string segment, long offset, long dropped);

    [LoggerMessage(EventId = 8103, Level = LogLevel.Warning, Message = "Record journal checkpoint at {Path} is unreadable; replaying from the oldest segment (records may be delivered twice)")]
    public static partial void CheckpointUnreadable(ILogger logger, string path);

    [LoggerMessage(EventId = 8104, Level = LogLevel.Warning, Message = "Record journal is full ({Bytes} of {MaxBytes} bytes): a record of {RecordBytes} bytes was refused")]
    public static partial void Full(ILogger logger, long bytes, long maxBytes, int recordBytes);

    [LoggerMessage(EventId = 8105, Level = LogLevel.Error, Message = "Record journal background fsync failed")]
    public static partial void FsyncFailed(ILogger logger, Exception exception);
}

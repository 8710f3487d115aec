using Microsoft.Extensions.Logging;

namespace LlmSecOps.Redis.Connection;

internal static partial class Log
{
    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Redis {Kind} connection to {EndPoint} established (reconnect: {IsReconnect})")]
    public static partial void Connected(ILogger logger, RedisConnectionKind kind, string endPoint, bool isReconnect);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Redis {Kind} connection to {EndPoint} lost; reconnecting")]
    public static partial void ConnectionLost(ILogger logger, RedisConnectionKind kind, string endPoint, Exception exception);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Debug, Message = "Redis {Kind} reconnect attempt {Attempt} to {EndPoint} failed: {Reason}")]
    public static partial void ReconnectFailed(ILogger logger, RedisConnectionKind kind, int attempt, string endPoint, string reason);

    [LoggerMessage(EventId = 7104, Level = LogLevel.Error, Message = "A Redis subscription handler for channel {Channel} threw")]
    public static partial void HandlerFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(EventId = 7105, Level = LogLevel.Warning, Message = "Redis at {EndPoint} sent nothing for {Silence} ms while {Command} waited; dropping the connection")]
    public static partial void Unresponsive(ILogger logger, string endPoint, long silence, string command);

    [LoggerMessage(EventId = 7106, Level = LogLevel.Error, Message = "A Redis connection event handler threw")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception);
}

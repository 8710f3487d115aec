namespace LlmSecOps.Redis;

/// <summary>Base class of every exception the Redis client throws.</summary>
public class RedisException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RedisException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with an inner exception.</summary>
    public RedisException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The server cannot be reached, the connection was lost while the command was in flight (the command may or
/// may not have been executed), or the client is disposed. The client reconnects on its own; retry later.
/// </summary>
public class RedisConnectionException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisConnectionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with an inner exception.</summary>
    public RedisConnectionException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The server refused the credentials (<c>WRONGPASS</c>, <c>NOAUTH</c>...).</summary>
public sealed class RedisAuthenticationException : RedisConnectionException
{
    /// <summary>Creates the exception.</summary>
    public RedisAuthenticationException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>No reply arrived within the command timeout. The connection stays up; the late reply is discarded.</summary>
public sealed class RedisTimeoutException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisTimeoutException(string message)
        : base(message)
    {
    }
}

/// <summary>The server answered the command with an error reply (<c>-ERR ...</c>, <c>-WRONGTYPE ...</c>).</summary>
public sealed class RedisServerException : RedisException
{
    /// <summary>Creates the exception from the server's error text.</summary>
    public RedisServerException(string serverMessage)
        : base(serverMessage)
    {
        var space = serverMessage.IndexOf(' ');
        ErrorCode = space > 0 ? serverMessage[..space] : serverMessage;
    }

    /// <summary>The error's first word as the server sent it: <c>ERR</c>, <c>NOSCRIPT</c>, <c>BUSYGROUP</c>, <c>WRONGTYPE</c>...</summary>
    public string ErrorCode { get; }
}

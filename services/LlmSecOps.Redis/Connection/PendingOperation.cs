namespace LlmSecOps.Redis.Connection;

/// <summary>Converts a (non-error) reply into what a typed command returns; may throw for unexpected shapes.</summary>
internal delegate T ReplyConverter<T>(in RedisValue reply);

/// <summary>
/// One command waiting for its reply. It stays in its socket's FIFO queue until the reply arrives or the socket
/// dies, even after it timed out or was cancelled, so that the late reply is consumed by it and can never be
/// matched to the command behind it.
/// </summary>
internal interface IPendingOperation
{
    /// <summary>The command name, for error messages (never its arguments: they may be secrets).</summary>
    string Command { get; }

    /// <summary><see cref="Environment.TickCount64"/> after which the caller gets a timeout.</summary>
    long DeadlineTicks { get; }

    /// <summary>The caller has its answer (a reply, an error, a timeout or a cancellation).</summary>
    bool IsCompleted { get; }

    void Complete(in RedisValue reply);

    bool Fail(Exception error);

    void Cancel();
}

/// <summary>
/// A pending command whose task is typed: the reply is converted on completion, so a typed helper needs no
/// extra async state machine (one allocation per command besides its task).
/// </summary>
internal sealed class PendingOperation<T> : TaskCompletionSource<T>, IPendingOperation
{
    private readonly ReplyConverter<T> _convert;

    public PendingOperation(string command, long deadlineTicks, ReplyConverter<T> convert)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Command = command;
        DeadlineTicks = deadlineTicks;
        _convert = convert;
    }

    public string Command { get; }

    public long DeadlineTicks { get; }

    public bool IsCompleted => Task.IsCompleted;

    public void Complete(in RedisValue reply)
    {
        if (reply.Type == RedisValueType.Error)
        {
            TrySetException(new RedisServerException(reply.AsString()!));
            return;
        }

        T value;
        try
        {
            value = _convert(reply);
        }
        catch (Exception ex)
        {
            TrySetException(ex);
            return;
        }

        TrySetResult(value);
    }

    public bool Fail(Exception error) => TrySetException(error);

    public void Cancel() => TrySetCanceled();
}

/// <summary>The reply converters of the typed commands (static: no allocation per command).</summary>
internal static class Replies
{
    public static readonly ReplyConverter<RedisValue> Raw = static (in RedisValue r) => r;

    public static readonly ReplyConverter<string?> String = static (in RedisValue r) => r.AsString();

    public static readonly ReplyConverter<long> Int64 = static (in RedisValue r) => r.AsInt64();

    public static readonly ReplyConverter<bool> IsOne = static (in RedisValue r) => r.AsInt64() == 1;

    public static readonly ReplyConverter<bool> IsNotNull = static (in RedisValue r) => !r.IsNull;
}

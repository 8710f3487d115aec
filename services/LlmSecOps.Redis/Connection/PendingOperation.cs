namespace LlmSecOps.Redis.Connection;

/// <summary>
/// One command waiting for its reply. It stays in its socket's FIFO queue until the reply arrives or the socket
/// dies, even after it timed out or was cancelled, so that the late reply is consumed by it and can never be
/// matched to the command behind it.
/// </summary>
internal sealed class PendingOperation : TaskCompletionSource<RedisValue>
{
    public PendingOperation(string command, long deadlineTicks)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Command = command;
        DeadlineTicks = deadlineTicks;
    }

    /// <summary>The command name, for error messages (never its arguments: they may be secrets).</summary>
    public string Command { get; }

    /// <summary><see cref="Environment.TickCount64"/> after which the caller gets a timeout.</summary>
    public long DeadlineTicks { get; }

    public void Complete(in RedisValue reply)
    {
        if (reply.Type == RedisValueType.Error)
        {
            TrySetException(new RedisServerException(reply.AsString()!));
        }
        else
        {
            TrySetResult(reply);
        }
    }
}

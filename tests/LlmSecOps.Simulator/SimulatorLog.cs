namespace LlmSecOps.Simulator;

/// <summary>The simulator's log events (stable ids). Deliberate failures are logged so a test's output explains itself.</summary>
internal static partial class SimulatorLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Simulator switches changed: {Switches}")]
    public static partial void SwitchesChanged(ILogger logger, State.SimulatorSwitches switches);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Simulator state reset to its configuration")]
    public static partial void StateReset(ILogger logger);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Simulated failure ({Mode}) of {Method} {Path} after {Tokens} tokens")]
    public static partial void SimulatedFailure(ILogger logger, State.FailureMode mode, string method, string path, int tokens);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Simulated stall of {Method} {Path} after {Tokens} tokens")]
    public static partial void SimulatedStall(ILogger logger, string method, string path, int tokens);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Model {Model} {Change} (digest sha256:{Digest})")]
    public static partial void ModelChanged(ILogger logger, string model, string change, string digest);
}

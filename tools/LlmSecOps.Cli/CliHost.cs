using Spectre.Console;

namespace LlmSecOps.Cli;

/// <summary>
/// What the CLI talks to: standard output and error (as Spectre consoles for tables, and as raw writers for JSON and
/// secrets, which must never be re-wrapped), standard input, the environment and the clock. The process uses
/// <see cref="FromProcess"/>; tests build one over <see cref="StringWriter"/>s with <see cref="ForWriters"/>.
/// </summary>
public sealed class CliHost
{
    /// <summary>Human-readable output (tables, panels).</summary>
    public required IAnsiConsole Out { get; init; }

    /// <summary>The raw writer behind <see cref="Out"/>: JSON and secrets go here byte-exact.</summary>
    public required TextWriter OutWriter { get; init; }

    /// <summary>Errors and notices.</summary>
    public required IAnsiConsole Error { get; init; }

    /// <summary>The raw writer behind <see cref="Error"/>.</summary>
    public required TextWriter ErrorWriter { get; init; }

    /// <summary>Standard input (read only by commands that take a secret from stdin rather than the command line).</summary>
    public required TextReader In { get; init; }

    /// <summary>Reads an environment variable.</summary>
    public required Func<string, string?> Environment { get; init; }

    /// <summary>The clock used to turn relative expiries (<c>--expires 30d</c>) into timestamps.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The real process: console streams, process environment.</summary>
    public static CliHost FromProcess()
    {
        // Colours and styles only on a terminal: piped output (scripts, `| less`, CI logs) stays plain text.
        var output = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        var error = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
            Ansi = Console.IsErrorRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = Console.IsErrorRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (Console.IsOutputRedirected)
        {
            // No terminal to fit: do not squeeze tables into 80 columns for a file or a pager.
            output.Profile.Width = 200;
        }

        return new CliHost
        {
            Out = output,
            OutWriter = Console.Out,
            Error = error,
            ErrorWriter = Console.Error,
            In = Console.In,
            Environment = System.Environment.GetEnvironmentVariable,
        };
    }

    /// <summary>
    /// A host over plain writers with no colours, no ANSI and a wide fixed width, so output is deterministic text.
    /// </summary>
    public static CliHost ForWriters(TextWriter output, TextWriter error, IReadOnlyDictionary<string, string>? environment = null,
        TextReader? input = null, int width = 240)
    {
        var env = environment ?? new Dictionary<string, string>();
        return new CliHost
        {
            Out = PlainConsole(output, width),
            OutWriter = output,
            Error = PlainConsole(error, width),
            ErrorWriter = error,
            In = input ?? TextReader.Null,
            Environment = name => env.TryGetValue(name, out var value) ? value : null,
        };
    }

    private static IAnsiConsole PlainConsole(TextWriter writer, int width)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = width;
        return console;
    }
}

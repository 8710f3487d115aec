using System.CommandLine;
using System.Text.Json;
using LlmSecOps.Data.Migrations;
using LlmSecOps.KeyLeakWatcher.Actions;
using LlmSecOps.KeyLeakWatcher.Scanning;
using LlmSecOps.KeyLeakWatcher.Sources;
using LlmSecOps.ServiceDefaults.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Spectre.Console;

namespace LlmSecOps.KeyLeakWatcher.Cli;

/// <summary>
/// One-off scans: <c>LlmSecOps.KeyLeakWatcher scan &lt;directory|git|npm|image&gt; &lt;target&gt;</c>, with a progress
/// bar and a summary table. Findings are acted on like the service does (control plane from
/// <c>ControlPlane__BaseUrl</c>/<c>services__gateway__admin__0</c> and <c>ControlPlane__Token</c>; remembered in
/// Postgres when <c>ConnectionStrings__llmsecops</c> is set) unless <c>--report-only</c>.
/// Exit codes: 0 no active key found; 1 active keys found (and revoked), or keys whose state is unknown
/// (report-only, control plane unreachable); 2 the scan itself failed or was misconfigured.
/// </summary>
public static class ScanCommand
{
    /// <summary>Exit code: nothing active found.</summary>
    public const int Clean = 0;

    /// <summary>Exit code: active keys were found.</summary>
    public const int ActiveKeysFound = 1;

    /// <summary>Exit code: the scan failed.</summary>
    public const int Failed = 2;

    private static readonly JsonSerializerOptions JsonOutput = new(JsonSerializerDefaults.Web);

    /// <summary>True when the arguments ask for the CLI rather than the service.</summary>
    public static bool IsCli(string[] args) => args.Length > 0 && args[0] is "scan" or "--help" or "-h";

    /// <summary>Runs the CLI.</summary>
    public static Task<int> RunAsync(string[] args, IAnsiConsole? console = null, IConfiguration? configuration = null)
    {
        console ??= AnsiConsole.Console;
        configuration ??= new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var kind = new Argument<string>("kind") { Description = "directory | git | npm | image" };
        kind.AcceptOnlyFromAmong([.. ScanSources.Kinds, "dir"]);
        var target = new Argument<string>("target") { Description = "folder; repository path or clone URL; .tgz, name@version or name; image tarball or folder of them" };
        var reportOnly = new Option<bool>("--report-only") { Description = "Only report findings: no control-plane look-up or revocation" };
        var json = new Option<bool>("--json") { Description = "Print findings as JSON instead of a table" };
        var scan = new Command("scan", "Scan one source for LlmSecOps keys and revoke the active ones") { kind, target, reportOnly, json };
        scan.SetAction((result, cancellationToken) => ScanAsync(
            console,
            configuration,
            result.GetValue(kind)!,
            result.GetValue(target)!,
            result.GetValue(reportOnly),
            result.GetValue(json),
            cancellationToken));
        var root = new RootCommand("LlmSecOps key-leak watcher: without arguments it runs the service (GitHub partner endpoint, watch mode)") { scan };
        return root.Parse(args).InvokeAsync();
    }

    private static async Task<int> ScanAsync(IAnsiConsole console, IConfiguration configuration, string kind, string target, bool reportOnly, bool json, CancellationToken cancellationToken)
    {
        var options = new ControlPlaneOptions { ReportOnly = reportOnly };
        configuration.GetSection("ControlPlane").Bind(options);
        options.ReportOnly |= reportOnly;
        options.BaseUrl ??= ServiceEndpoints.Resolve(configuration, "gateway", "admin");
        var invalid = new ControlPlaneOptionsValidator().Validate(null, options);
        if (invalid.Failed)
        {
            console.MarkupLine($"[red]{Markup.Escape(invalid.FailureMessage)}[/]");
            console.MarkupLine("Or pass [bold]--report-only[/] to scan without revoking.");
            return Failed;
        }

        IFindingStore store = new InMemoryFindingStore();
        NpgsqlDataSource? dataSource = null;
        if (configuration.GetConnectionString("llmsecops") is { Length: > 0 } connectionString)
        {
            await MigrationRunner.ApplyAsync(connectionString, WatcherServiceExtensions.Schema, typeof(ScanCommand).Assembly, cancellationToken);
            dataSource = NpgsqlDataSource.Create(connectionString);
            store = new PostgresFindingStore(dataSource);
        }

        using var http = options.ReportOnly ? null : new HttpClient();
        if (http is not null)
        {
            ControlPlaneClient.Configure(http, options);
        }

        var responder = new LeakResponder(http is null ? null : new ControlPlaneClient(http), store, NullLogger<LeakResponder>.Instance);
        var results = new List<FindingResult>();
        ScanSession? session = null;
        try
        {
            var source = ScanSources.Create(kind, target);
            await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var total = EstimateBytes(target);
                    var task = progress.AddTask($"{kind} {Markup.Escape(target)}", maxValue: Math.Max(total, 1));
                    task.IsIndeterminate = total <= 0;
                    session = new ScanSession
                    {
                        Progress = bytes => task.Value = Math.Min(bytes, task.MaxValue),
                        FindingHandler = async (finding, ct) =>
                        {
                            var result = await responder.HandleAsync(finding, ct);
                            lock (results)
                            {
                                results.Add(result);
                            }
                        },
                    };
                    await source.ScanAsync(session, null, cancellationToken);
                    task.IsIndeterminate = false;
                    task.Value = task.MaxValue;
                });
        }
        catch (Exception ex) when (ex is IOException or ExternalToolException or InvalidDataException or UnauthorizedAccessException or ArgumentException or JsonException)
        {
            console.MarkupLine($"[red]Scan failed:[/] {Markup.Escape(ex.Message)}");
            return Failed;
        }
        finally
        {
            if (dataSource is not null)
            {
                await dataSource.DisposeAsync();
            }
        }

        Print(console, session!, results, json);
        var active = results.Count(r => !r.Repeat && r.Outcome is FindingOutcome.Revoked or FindingOutcome.Recorded or FindingOutcome.Error);
        return active > 0 ? ActiveKeysFound : Clean;
    }

    private static void Print(IAnsiConsole console, ScanSession session, List<FindingResult> results, bool json)
    {
        if (json)
        {
            var document = new
            {
                bytesScanned = session.BytesScanned,
                itemsScanned = session.ItemsScanned,
                findings = results.Select(r => new
                {
                    keyId = r.Finding.KeyId,
                    tokenHash = r.Finding.TokenHash,
                    location = r.Finding.Location,
                    outcome = PostgresFindingStore.FormatOutcome(r.Outcome),
                    repeat = r.Repeat,
                    commit = r.Finding.Context.Commit,
                    author = r.Finding.Context.Author,
                    note = r.Finding.Context.Note,
                    detail = r.Detail,
                }),
                notScanned = session.NotScannedItems,
            };
            console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(document, JsonOutput));
            return;
        }

        var table = new Table().Title($"{results.Count} finding(s) in {session.ItemsScanned} item(s), {session.BytesScanned / 1024.0 / 1024.0:F1} MiB")
            .AddColumns("Key id", "Location", "Outcome", "Details");
        foreach (var r in results)
        {
            var outcome = r.Repeat ? $"{r.Outcome} (before)" : r.Outcome.ToString();
            var colour = r.Outcome switch
            {
                FindingOutcome.Revoked => "red",
                FindingOutcome.Error or FindingOutcome.Recorded => "yellow",
                _ => "grey",
            };
            var details = string.Join("; ", new[] { r.Finding.Context.Author, r.Finding.Context.Note, r.Detail }.Where(s => s is not null));
            table.AddRow(Markup.Escape(r.Finding.KeyId), Markup.Escape(r.Finding.Location), $"[{colour}]{Markup.Escape(outcome)}[/]", Markup.Escape(details));
        }

        console.Write(table);
        if (session.NotScannedItems.Count > 0)
        {
            var skipped = new Table().Title("Not scanned").AddColumns("Location", "Reason");
            foreach (var item in session.NotScannedItems)
            {
                skipped.AddRow(Markup.Escape(item.Location), Markup.Escape(item.Reason));
            }

            console.Write(skipped);
        }
    }

    private static long EstimateBytes(string target)
    {
        try
        {
            if (File.Exists(target))
            {
                return new FileInfo(target).Length;
            }

            return Directory.Exists(target) && !Directory.Exists(Path.Combine(target, ".git"))
                ? new DirectoryInfo(target).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true }).Sum(f => f.Length)
                : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}

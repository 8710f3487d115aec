using LlmSecOps.KeyLeakWatcher;
using LlmSecOps.KeyLeakWatcher.Cli;

// `scan <kind> <target>` runs a one-off scan (exit code 1 when active keys were found); anything else runs the service.
if (ScanCommand.IsCli(args))
{
    return await ScanCommand.RunAsync(args);
}

var app = KeyLeakWatcherApp.Build(args);
await app.RunAsync();
return 0;

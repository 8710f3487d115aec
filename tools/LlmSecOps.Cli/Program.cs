using LlmSecOps.Cli;

return await CliApp.RunAsync(args, CliHost.FromProcess());

using LlmSecOps.AnomalyScorer.Bench;

return await BenchProgram.RunAsync(args);

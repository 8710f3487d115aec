using LlmSecOps.Simulator;

// The LLM protocol simulator (a test double). Usage: dotnet run --project tests/LlmSecOps.Simulator -- --urls http://127.0.0.1:11434
var app = SimulatorApp.Build(args);
app.Run();

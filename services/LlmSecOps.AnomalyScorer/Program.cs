using LlmSecOps.AnomalyScorer;

var app = AnomalyScorerApp.Build(args);
app.Run();

using LlmSecOps.KeyLeakWatcher;

var app = KeyLeakWatcherApp.Build(args);
app.Run();

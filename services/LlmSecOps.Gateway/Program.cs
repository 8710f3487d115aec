using LlmSecOps.Gateway;

var app = GatewayApp.Build(args);
app.Run();

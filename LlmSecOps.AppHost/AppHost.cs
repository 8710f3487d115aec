// The whole LlmSecOps stack under .NET Aspire: Postgres, Redis, an Ollama container that only the gateway can
// reach, the gateway (data plane external, admin API internal), the anomaly scorer and the key-leak watcher.
// Configuration names match ../shared ARCHITECTURE.md "Configuration names"; docs/deployment.md explains each choice.
var builder = DistributedApplication.CreateBuilder(args);
var publishing = builder.ExecutionContext.IsPublishMode;

// In a published deployment each listener gets its well-known port (8080..8083, as in infra/k8s); under
// `dotnet run` Aspire picks free ports and hands them to the service through the endpoint's `env:` variable.
int? WellKnown(int port) => publishing ? port : null;

// Under `dotnet run` every listener binds loopback: Aspire's proxy reaches it on localhost and nothing on the LAN
// can. Published, each service runs in its own container, so its listeners bind that container's interfaces and
// the platform's network rules decide who may connect (admin API: the scorer, the watcher and operators only).
var bindAddress = publishing ? "0.0.0.0" : "127.0.0.1";

// Secrets are parameters, never literals: set them with `dotnet user-secrets set Parameters:pepper ...`
// (run) or let azd prompt for them (publish). Redis gets a generated secret password parameter of its own.
var postgresPassword = builder.AddParameter("postgres-password", secret: true);
var pepper = builder.AddParameter("pepper", secret: true);
var bootstrapAdminToken = builder.AddParameter("bootstrap-admin-token", secret: true);
var scorerToken = builder.AddParameter("scorer-service-token", secret: true);
var watcherToken = builder.AddParameter("watcher-service-token", secret: true);

var postgres = builder.AddPostgres("postgres", password: postgresPassword)
    .WithImageTag("17.6")
    .WithDataVolume("llmsecops-postgres-data");
var database = postgres.AddDatabase("llmsecops");

var redis = builder.AddRedis("redis")
    .WithImageTag("8.2.1")
    .WithDataVolume("llmsecops-redis-data");

// Ollama: pinned tag, models in a named volume (read-only once published: production fills it from an internal
// registry and the operator approves each digest with PUT /admin/models/{name}). Its endpoint is not external and
// only the gateway references it.
const string OllamaImage = "ollama/ollama";
const string OllamaTag = "0.13.0";
var ollama = builder.AddContainer("ollama", OllamaImage, OllamaTag)
    .WithImageRegistry("docker.io")
    .WithHttpEndpoint(targetPort: 11434, name: "http")
    .WithEnvironment("OLLAMA_MODELS", "/models")
    .WithVolume("llmsecops-ollama-models", "/models", isReadOnly: publishing)
    .WithHttpHealthCheck("/", endpointName: "http");

// Opt-in GPU: `--Parameters:ollama-gpu=nvidia` (NVIDIA Container Toolkit on the Docker host).
switch (builder.Configuration["Parameters:ollama-gpu"]?.ToUpperInvariant())
{
    case null or "" or "NONE":
        break;
    case "NVIDIA":
        ollama.WithContainerRuntimeArgs("--gpus", "all");
        break;
    default:
        throw new DistributedApplicationException("Parameters:ollama-gpu must be 'none' (default) or 'nvidia'.");
}

// Development only: `--Parameters:ollama-pull-model=llama3.2:1b` pulls a model into the volume from the public
// Ollama registry with a one-shot client container. Never in a published deployment.
if (builder.ExecutionContext.IsRunMode && builder.Configuration["Parameters:ollama-pull-model"] is { Length: > 0 } pullModel)
{
    builder.AddContainer("ollama-pull", OllamaImage, OllamaTag)
        .WithImageRegistry("docker.io")
        .WithEntrypoint("/bin/ollama")
        .WithArgs("pull", pullModel)
        .WithEnvironment("OLLAMA_HOST", ollama.GetEndpoint("http"))
        .WaitFor(ollama);
}

// Gateway: the data plane is the only external endpoint; the admin API stays inside the application network.
var gateway = builder.AddProject<Projects.LlmSecOps_Gateway>("gateway")
    .WithHttpEndpoint(targetPort: WellKnown(8080), name: "data", env: "Listeners__Data__Port")
    .WithHttpEndpoint(targetPort: WellKnown(8081), name: "admin", env: "Listeners__Admin__Port")
    .WithEndpoint("data", endpoint => endpoint.IsExternal = true)
    .WithEnvironment("Listeners__Data__Address", bindAddress)
    .WithEnvironment("Listeners__Admin__Address", bindAddress)
    .WithReference(database)
    .WithReference(redis)
    .WithReference(ollama.GetEndpoint("http"))
    .WithEnvironment("Keys__Pepper", pepper)
    .WithEnvironment("ControlPlane__BootstrapAdminToken", bootstrapAdminToken)
    .WithEnvironment("ControlPlane__ServiceTokens__scorer", scorerToken)
    .WithEnvironment("ControlPlane__ServiceTokens__watcher", watcherToken)
    .WithHttpHealthCheck("/health/ready", endpointName: "admin")
    .WaitFor(database)
    .WaitFor(redis)
    .WaitFor(ollama);

builder.AddProject<Projects.LlmSecOps_AnomalyScorer>("scorer")
    .WithHttpEndpoint(targetPort: WellKnown(8082), name: "management", env: "Listeners__Management__Port")
    .WithEnvironment("Listeners__Management__Address", bindAddress)
    .WithReference(database)
    .WithReference(redis)
    .WithEnvironment("ControlPlane__BaseUrl", gateway.GetEndpoint("admin"))
    .WithEnvironment("ControlPlane__Token", scorerToken)
    .WithHttpHealthCheck("/health/ready", endpointName: "management")
    .WaitFor(database)
    .WaitFor(redis)
    .WaitFor(gateway);

// The watcher's listener carries the GitHub secret-scanning partner webhook, so it may be reached from outside.
builder.AddProject<Projects.LlmSecOps_KeyLeakWatcher>("watcher")
    .WithHttpEndpoint(targetPort: WellKnown(8083), name: "web", env: "Listeners__Web__Port")
    .WithExternalHttpEndpoints()
    .WithEnvironment("Listeners__Web__Address", bindAddress)
    .WithReference(database)
    .WithEnvironment("ControlPlane__BaseUrl", gateway.GetEndpoint("admin"))
    .WithEnvironment("ControlPlane__Token", watcherToken)
    .WithHttpHealthCheck("/health/ready", endpointName: "web")
    .WaitFor(database)
    .WaitFor(gateway);

builder.Build().Run();

using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Gateway.Events;
using LlmSecOps.Gateway.Forwarding;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Gateway.Usage;
using LlmSecOps.Inference.Guards;
using LlmSecOps.Inference.Parameters;
using LlmSecOps.Inference.Routing;
using LlmSecOps.Limits;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace LlmSecOps.Gateway.DataPlane;

/// <summary>
/// The data-plane request path of ARCHITECTURE.md, in its order: route allow-list -> authenticate -> tenant not
/// suspended -> tier allows model -> key scope allows endpoint -> model approved -> request rate (key, tenant) ->
/// tenant concurrency lease -> budget reservation -> input guards -> upstream (YARP, canonical route) -> streamed
/// output guards and token counting -> settle -> event and record. Every refusal answers in the API's own format
/// and is recorded too.
/// </summary>
internal sealed partial class InferenceHandler(
    KeyAuthenticator authenticator,
    TenantDirectory tenants,
    CallerPolicyStore policies,
    DataPlaneLimits limits,
    UsageStore usage,
    RequestEventPublisher events,
    IHttpForwarder forwarder,
    UpstreamClient upstream,
    Database.GatewayDatabase database,
    IOptions<DataPlaneOptions> options,
    TimeProvider time,
    ILogger<InferenceHandler> logger,
    ClientIdentityService clientIdentity,
    RedisKeyStatusBus redis)
{
    public async Task HandleAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var record = new RequestOutcome
        {
            Ts = time.GetUtcNow(),
            RequestId = "req_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            UserAgent = http.Request.Headers.UserAgent.ToString(),
        };
        clientIdentity.Apply(http, record);
        http.Response.Headers["x-request-id"] = record.RequestId;
        if (!events.CanAccept || !usage.CanAccept)
        {
            // ARCHITECTURE.md: when the record journal is full the data plane refuses rather than serve unrecorded traffic.
            await WriteErrorAsync(http, FamilyOf(http), 503, "The gateway cannot record requests right now; retry later.", "server_error", "service_unavailable");
            return;
        }

        try
        {
            await RunAsync(http, record);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away (wrk closes its connections mid-response when its run ends): not an upstream failure.
            MarkClientClosed(record);
        }
        finally
        {
            record.LatencyMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (record.FirstByteTicks != 0)
            {
                record.TtftMs = (long)Stopwatch.GetElapsedTime(started, record.FirstByteTicks).TotalMilliseconds;
            }

            record.Status = record.Status == 0 ? http.Response.StatusCode : record.Status;
            record.Outcome ??= record.Status < 400 ? RequestEvent.Outcomes.Ok : RequestEvent.Outcomes.UpstreamError;
            events.Publish(record);
        }
    }

    private async Task RunAsync(HttpContext http, RequestOutcome record)
    {
        var rawTarget = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? http.Request.Path.Value ?? "/";
        var match = RouteTable.Match(http.Request.Method, rawTarget);
        var family = FamilyOf(http);
        if (!match.IsMatch)
        {
            if (match.Refusal == RouteRefusal.ManagementRoute)
            {
                Log.ManagementRouteRefused(logger, http.Request.Method, record.RequestId);
            }

            var (status, message) = match.Refusal switch
            {
                RouteRefusal.MethodNotAllowed => (405, "Method not allowed on this route."),
                RouteRefusal.NonCanonicalPath => (400, "The request path is not in canonical form."),
                _ => (404, "No such route on this gateway."),
            };
            record.Endpoint = http.Request.Method + " " + RouteTable.All.FirstOrDefault(r => r.Path == http.Request.Path.Value)?.Path;
            await RefuseAsync(http, record, family, status, message, "invalid_request_error", "unknown_route", RequestEvent.Outcomes.BadRequest);
            return;
        }

        var route = match.Route!;
        family = route.Family;
        record.Endpoint = route.Endpoint;

        // Authentication: the checksum is checked before any look-up; 401 for every unusable credential.
        var auth = await authenticator.AuthenticateAsync(KeyAuthentication.PresentedKey(http.Request), http.RequestAborted);
        if (!auth.Succeeded)
        {
            record.ClaimedKeyId = auth.ClaimedKeyId ?? "";
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await RefuseAsync(http, record, family, 401, AuthMessage(auth.Failure), "invalid_request_error", "invalid_api_key", RequestEvent.Outcomes.Unauthenticated);
            return;
        }

        var key = auth.Key!;
        record.KeyId = key.Id;
        record.TenantId = key.TenantId;
        record.Env = key.Env;
        var tenant = await tenants.GetAsync(key.TenantId, http.RequestAborted);
        if (tenant is null || !tenant.IsActive)
        {
            await RefuseAsync(http, record, family, 403, "The tenant of this API key is suspended.", "permission_error", "tenant_suspended", RequestEvent.Outcomes.Forbidden);
            return;
        }

        var policy = await policies.GetAsync(key.Id, http.RequestAborted);
        if (policy is null)
        {
            await RefuseAsync(http, record, family, 403, "This API key has no usable tier.", "permission_error", "tier_missing", RequestEvent.Outcomes.Forbidden);
            return;
        }

        record.LoggingPolicy = policy.LoggingPolicy;

        // The body: bounded, parsed once, rewritten by the tier policy.
        var body = ReadOnlyMemory<byte>.Empty;
        PreparedRequest? prepared = null;
        var tierPolicy = TierPolicy(policy, int.MaxValue);
        if (route.HasBody)
        {
            var read = await ReadBodyAsync(http, options.Value.MaxRequestBodyBytes);
            if (read is null)
            {
                await RefuseAsync(http, record, family, 413, "The request body is too large.", "invalid_request_error", "too_large", RequestEvent.Outcomes.TooLarge);
                return;
            }

            body = read.Value;
            try
            {
                var parameters = RequestBodyParser.Parse(route, body.Span, new RequestLimits { MaxBodyBytes = options.Value.MaxRequestBodyBytes });
                record.Stream = parameters.StreamEffective;
                record.MaxTokensRequested = parameters.MaxTokensRequested;
                if (parameters.Model is { } model)
                {
                    record.Model = ModelNames.Canonicalize(model);
                }

                prepared = ParameterPolicyEnforcer.Apply(parameters, body, tierPolicy);
            }
            catch (InferenceRequestException e)
            {
                await RefuseAsync(http, record, family, e.StatusCode, e.Message, "invalid_request_error", e.Code,
                    e.StatusCode == 413 ? RequestEvent.Outcomes.TooLarge : RequestEvent.Outcomes.BadRequest);
                return;
            }
        }

        if (route.NamesModel && record.Model is null)
        {
            await RefuseAsync(http, record, family, 400, "The request must name a model.", "invalid_request_error", "missing_parameter", RequestEvent.Outcomes.BadRequest);
            return;
        }

        // Stacked authorization: each question has its own 403.
        if (record.Model is { } requested && !policy.AllowsModel(requested))
        {
            await RefuseAsync(http, record, family, 403, $"The tier '{policy.Tier}' does not allow the model '{requested}'.", "permission_error", "model_not_allowed", RequestEvent.Outcomes.Forbidden);
            return;
        }

        if (Array.IndexOf(key.Scopes, route.Scope) < 0)
        {
            await RefuseAsync(http, record, family, 403, $"This API key's scopes do not include '{route.Scope}'.", "permission_error", "scope_not_allowed", RequestEvent.Outcomes.Forbidden);
            return;
        }

        if (record.Model is { } named && await policies.ApprovedDigestAsync(named, http.RequestAborted) is null)
        {
            await RefuseAsync(http, record, family, 403, $"The model '{named}' is not approved on this gateway.", "permission_error", "model_not_approved", RequestEvent.Outcomes.ModelNotApproved);
            return;
        }

        // Model supply chain: the upstream's digest must still be the approved pin (a changed model behind the same
        // name is refused until re-approved, and a `model-digest` incident is opened once per changed digest).
        if (record.Model is { } pinned && await ChangedDigestAsync(pinned, http.RequestAborted) is { } changed)
        {
            await ReportDigestChangeAsync(pinned, changed, key, http.RequestAborted);
            await RefuseAsync(http, record, family, 403, $"The model '{pinned}' on the upstream no longer matches its approved digest; an operator must re-approve it.",
                "permission_error", "model_digest_changed", RequestEvent.Outcomes.ModelNotApproved);
            return;
        }

        // Request rate (key and tenant) and tokens per minute per key, the tenant's in-flight lease and the budget
        // reservation (key/tenant, day/month; a safe upper bound: input estimate + max_tokens x n), checked and charged
        // in that order by ONE atomic script: one Redis round trip before the upstream is called.
        var parts = await limits.GetAsync();
        IReadOnlyList<BudgetCounter> counters = prepared is null ? [] : limits.BudgetCounters(key.Id, key.TenantId, policy, time.GetUtcNow());
        var minimum = prepared is null ? 1 : prepared.InputTokenEstimate + (route.Generates ? prepared.Parameters.CompletionsPerRequest : 0);
        var admission = await (_admission ??= new Admission(await redis.ConnectionAsync())).AdmitAsync(
            new AdmissionRequest(limits.RateBuckets(key.Id, key.TenantId, policy, prepared?.ReservationTokens ?? 0), limits.LeaseKey(key.TenantId),
                Math.Max(1, policy.Concurrency), options.Value.LeaseTtl, counters, Math.Max(1, prepared?.ReservationTokens ?? 1), Math.Max(1, minimum)),
            (counter, ct) => limits.SettledUsageAsync(counter, key.Id, key.TenantId, ct), http.RequestAborted);
        DataPlaneLimits.WriteRateHeaders(http.Response.Headers, policy, admission.Rate);
        if (admission.Budget is { } budget)
        {
            DataPlaneLimits.WriteBudgetHeaders(http.Response.Headers, budget.Remaining);
        }

        switch (admission.Refusal)
        {
            case AdmissionRefusal.Rate:
                await RefuseAsync(http, record, family, 429, DataPlaneLimits.RateRefusalMessage(admission.Rate), "rate_limit_error", "rate_limit_exceeded", RequestEvent.Outcomes.RateLimited);
                return;
            case AdmissionRefusal.Concurrency:
                http.Response.Headers.RetryAfter = RetryAfterSeconds(admission.Lease.RetryAfter);
                await RefuseAsync(http, record, family, 429, "Too many requests in flight for this tenant; retry after the time in Retry-After.", "rate_limit_error", "concurrency_limit_exceeded", RequestEvent.Outcomes.ConcurrencyLimited);
                return;
            case AdmissionRefusal.Budget:
                await RefuseAsync(http, record, family, 429, "Token budget exhausted for this API key or tenant.", "insufficient_quota", "insufficient_quota", RequestEvent.Outcomes.BudgetExhausted);
                return;
        }

        var lease = admission.Lease.Lease!;
        limits.KeepAlive(parts.Leases, lease);
        var reservation = admission.Budget?.Reservation;
        long actualTokens = 0;
        try
        {
            // Budget granted less than asked (clamped to what remains): clamp max_tokens to the grant.
            if (reservation is not null && prepared is not null && reservation.Granted < prepared.ReservationTokens && route.Generates)
            {
                var perCompletion = (reservation.Granted - prepared.InputTokenEstimate) / prepared.Parameters.CompletionsPerRequest;
                prepared = ParameterPolicyEnforcer.Apply(prepared.Parameters, body, TierPolicy(policy, (int)Math.Clamp(perCompletion, 1, int.MaxValue)));
            }

            record.MaxTokensEffective = prepared?.EffectiveMaxTokens;

            // Input guards: flag by default, block per tenant policy.
            if (prepared is not null)
            {
                var guardAction = policy.GuardPolicy == "block" ? GuardAction.Block : GuardAction.Flag;
                var guard = InputGuard.Evaluate(prepared.Parameters, body.Span, new InputGuardPolicy { PromptInjection = guardAction, Pii = guardAction, Secrets = guardAction });
                record.GuardFlags = guard.Flagged ? string.Join(',', guard.Reasons) : null;
                if (guard.Blocked)
                {
                    await RefuseAsync(http, record, family, 400, "The request was blocked by the input guard (" + string.Join(", ", guard.Reasons) + ").", "invalid_request_error", "guard_blocked", RequestEvent.Outcomes.GuardBlocked);
                    return;
                }
            }

            if (prepared is not null && policy.LoggingPolicy == "redacted")
            {
                var texts = prepared.Parameters.TextRanges.Select(r => r.GetText(body.Span));
                record.RedactedPrompt = Redaction.Redact(string.Join('\n', texts), Detectors.All);
            }

            actualTokens = await ForwardAsync(http, record, route, prepared, reservation);
        }
        finally
        {
            // Settle and release are sent back to back on the pipelined connection: one round trip for both.
            var settle = reservation is null ? Task.CompletedTask : parts.Budget.SettleAsync(reservation, actualTokens);
            var release = limits.ReleaseAsync(parts.Leases, lease);
            await Task.WhenAll(settle, release);
        }
    }

    private async Task<long> ForwardAsync(HttpContext http, RequestOutcome record, InferenceRoute route, PreparedRequest? prepared, BudgetReservation? reservation)
    {
        var completionLimit = reservation is null || prepared is null || !route.Generates
            ? (long?)null
            : Math.Max(1, reservation.Granted - prepared.InputTokenEstimate);
        var redaction = route.Generates ? Detectors.StreamingDefault : null;
        var originalBody = http.Response.Body;
        await using var stream = new TransformingResponseStream(originalBody, route, redaction, completionLimit, options.Value.MaxResponseDocumentBytes);
        http.Response.Body = stream;
        var streaming = prepared?.Parameters.StreamEffective ?? false;
        var transformer = new UpstreamTransformer(upstream.BaseAddress!, route.Path, prepared?.Body ?? ReadOnlyMemory<byte>.Empty, options.Value.UpstreamApiKey,
            (_, response) =>
            {
                if (response is null || !response.IsSuccessStatusCode || !route.Generates)
                {
                    stream.Mode = ResponseMode.PassThrough;
                }
                else
                {
                    stream.Mode = streaming ? ResponseMode.Stream : ResponseMode.Document;
                }
            });

        if (upstream.BaseAddress is null)
        {
            await RefuseAsync(http, record, route.Family, 503, "No upstream model server is configured.", "server_error", "upstream_unavailable", RequestEvent.Outcomes.UpstreamError);
            return 0;
        }

        ForwarderError error;
        bool clientClosed;
        try
        {
            error = await forwarder.SendAsync(http, upstream.BaseAddress.ToString(), upstream.Invoker,
                new ForwarderRequestConfig { ActivityTimeout = options.Value.UpstreamTimeout }, transformer);
            clientClosed = IsClientDisconnect(error, stream) || (error == ForwarderError.None && http.RequestAborted.IsCancellationRequested);
            // After a failure mid-body YARP has aborted the client connection: nothing more can be written to it.
            if (!clientClosed && !http.RequestAborted.IsCancellationRequested)
            {
                await stream.CompleteAsync(error == ForwarderError.None ? null : "The upstream failed while answering.", http.RequestAborted);
            }
        }
        finally
        {
            http.Response.Body = originalBody;
        }

        record.FirstByteTicks = stream.FirstByteTicks;
        record.Status = http.Response.StatusCode;
        if (clientClosed)
        {
            // Nothing to tell a client that is gone; what the upstream produced until then is still settled below.
            MarkClientClosed(record);
        }
        else if (error != ForwarderError.None)
        {
            Log.UpstreamFailed(logger, error, record.RequestId);
            record.Outcome = RequestEvent.Outcomes.UpstreamError;
            record.FinishReason = "error";
            if (!http.Response.HasStarted)
            {
                http.Response.Clear();
                await WriteErrorAsync(http, route.Family, 502, "The upstream model server failed.", "server_error", "upstream_error");
                record.Status = 502;
            }
        }

        long prompt = 0, completion = 0;
        if (stream.Transformer is { } t)
        {
            prompt = t.Accounting.ReportedPromptTokens ?? prepared?.InputTokenEstimate ?? 0;
            completion = t.Accounting.CompletionTokens;
            if (t.Accounting.ReportedCompletionTokens is null && completionLimit is { } cap)
            {
                // No usage reported: the byte-based estimate can exceed the real count; the upstream was asked for at most
                // the reserved completion tokens and the guard cuts it once it has certainly produced more.
                completion = Math.Min(completion, cap);
            }

            record.FinishReason ??= t.Accounting.FinishReason;
            switch (t.EndedBy)
            {
                case Inference.Streaming.StreamEnd.BudgetExhausted:
                    // The chunk that crossed the limit was counted but never forwarded: the client got at most the limit.
                    completion = Math.Min(completion, completionLimit ?? completion);
                    record.Outcome = RequestEvent.Outcomes.BudgetExhausted;
                    record.FinishReason = "length";
                    break;
                case Inference.Streaming.StreamEnd.None:
                    break;
                case Inference.Streaming.StreamEnd.Truncated when clientClosed:
                    break;
                default:
                    record.Outcome = RequestEvent.Outcomes.UpstreamError;
                    record.FinishReason = "error";
                    break;
            }
        }
        else if (stream.Document is { } d)
        {
            prompt = d.PromptTokens ?? prepared?.InputTokenEstimate ?? 0;
            completion = d.CompletionTokens;
            record.FinishReason ??= d.FinishReason;
        }
        else if (clientClosed && route.Generates && prepared is not null)
        {
            // Closed before a streamed response began, or while a single document was still being collected: what the
            // upstream generated until it saw the disconnect is unknown, so the safe upper bound (what was reserved) is settled.
            prompt = prepared.InputTokenEstimate;
            completion = completionLimit ?? ((prepared.EffectiveMaxTokens ?? 0) * prepared.Parameters.CompletionsPerRequest);
        }
        else if (stream.Oversized)
        {
            record.Outcome = RequestEvent.Outcomes.UpstreamError;
            record.FinishReason = "error";
        }
        else if (route.HasBody && http.Response.StatusCode < 400)
        {
            // Embeddings and other non-generating routes: the input estimate is the (safe) usage.
            prompt = prepared?.InputTokenEstimate ?? 0;
        }

        record.PromptTokens = prompt;
        record.CompletionTokens = completion;
        if (record.KeyId is not null && record.TenantId is not null)
        {
            // Off the request path: a durable batch writer (journalled while Postgres is down) writes it.
            usage.Enqueue(new UsageRecord(record.RequestId, record.Ts.UtcDateTime, record.TenantId, record.KeyId, record.Endpoint, record.Model,
                record.Outcome ?? (record.Status < 400 ? RequestEvent.Outcomes.Ok : RequestEvent.Outcomes.UpstreamError), prompt, completion));
        }

        return prompt + completion;
    }

    private Admission? _admission;
    private (Dictionary<string, System.Text.Json.JsonElement>? Tags, long Expires) _upstreamTags;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _reportedDigests = new(StringComparer.Ordinal);

    /// <summary>The upstream's digest of <paramref name="model"/> when it differs from the approved pin, else null.</summary>
    private async Task<string?> ChangedDigestAsync(string model, CancellationToken cancellationToken)
    {
        var cached = _upstreamTags;
        if (cached.Expires < time.GetTimestamp())
        {
            cached = (await ModelListEndpoints.UpstreamTagsAsync(upstream, options.Value.UpstreamApiKey, cancellationToken),
                time.GetTimestamp() + (long)(options.Value.PolicyCacheTtl.TotalSeconds * time.TimestampFrequency));
            _upstreamTags = cached;
        }

        if (cached.Tags is null || !cached.Tags.TryGetValue(model, out var entry) || !entry.TryGetProperty("digest", out var d) || d.GetString() is not { } digest)
        {
            return null;
        }

        var live = "sha256:" + digest.Replace("sha256:", "", StringComparison.Ordinal);
        var approved = await policies.ApprovedDigestAsync(model, cancellationToken);
        return approved is null || string.Equals(approved, live, StringComparison.Ordinal) ? null : live;
    }

    private async Task ReportDigestChangeAsync(string model, string live, KeyRecord key, CancellationToken cancellationToken)
    {
        if (!_reportedDigests.TryAdd(model + "@" + live, true))
        {
            return;
        }

        Log.ModelDigestChanged(logger, model, live);
        await database.InTransactionAsync(async (connection, transaction) =>
            await Incidents.IncidentStore.OpenAsync(connection, transaction, "model-digest", null, key.TenantId, model,
                $"The upstream's '{model}' has digest {live}, not the approved pin; refused until re-approved.",
                System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string> { ["model"] = model, ["upstreamDigest"] = live }), "gateway-data-plane"),
            cancellationToken);
    }

    /// <summary>
    /// The client closed the connection before its response was complete. ARCHITECTURE.md has no outcome for it: the
    /// request was admitted and served as far as the client let it, so the outcome is <c>ok</c>; the status is 499
    /// (nginx's "client closed request") and the finish reason <c>client_closed</c>, so it is never taken for an upstream failure.
    /// </summary>
    private static void MarkClientClosed(RequestOutcome record)
    {
        record.Status = 499;
        record.Outcome = record.Outcome is null or RequestEvent.Outcomes.UpstreamError ? RequestEvent.Outcomes.Ok : record.Outcome;
        record.FinishReason = "client_closed";
    }

    /// <summary>
    /// True when YARP's error means the client went away: its request was cancelled (YARP reports RequestCanceled only
    /// when the client's RequestAborted fired) or reading from / writing to the client failed. ResponseBodyCanceled is
    /// also what YARP reports when the upstream stalled past <see cref="DataPlaneOptions.UpstreamTimeout"/> (its activity
    /// timeout): that is an upstream failure, told apart by the upstream having been silent for (nearly) that long.
    /// </summary>
    private bool IsClientDisconnect(ForwarderError error, TransformingResponseStream stream) => error switch
    {
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient => true,
        ForwarderError.ResponseBodyCanceled => Stopwatch.GetElapsedTime(stream.LastWriteTicks) < options.Value.UpstreamTimeout * 0.9,
        _ => false,
    };

    private static TierParameterPolicy TierPolicy(CallerPolicy policy, int grantCap) => policy.ParametersFor(grantCap);

    /// <summary>
    /// Reads the whole body, at most <paramref name="max"/> bytes (null when larger), into a pooled buffer that goes back
    /// to the pool when the response is over (nothing of the request outlives it: the body is forwarded, parsed and
    /// guarded within the request).
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext http, int max)
    {
        if (http.Request.ContentLength > max)
        {
            return null;
        }

        var buffer = new PooledBody(http.Request.ContentLength is { } length ? (int)Math.Min(length + 1, max + 1L) : 4096);
        http.Response.RegisterForDispose(buffer);
        var filled = 0;
        while (true)
        {
            if (filled == buffer.Array.Length)
            {
                buffer.Grow(Math.Min((long)buffer.Array.Length * 2, max + 1L));
            }

            var read = await http.Request.Body.ReadAsync(buffer.Array.AsMemory(filled), http.RequestAborted);
            if (read == 0)
            {
                return buffer.Array.AsMemory(0, filled);
            }

            filled += read;
            if (filled > max)
            {
                return null;
            }
        }
    }

    private sealed class PooledBody(int size) : IDisposable
    {
        public byte[] Array { get; private set; } = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(size, 16));

        public void Grow(long size)
        {
            var larger = System.Buffers.ArrayPool<byte>.Shared.Rent((int)size);
            Array.CopyTo(larger, 0);
            System.Buffers.ArrayPool<byte>.Shared.Return(Array);
            Array = larger;
        }

        public void Dispose() => System.Buffers.ArrayPool<byte>.Shared.Return(Array);
    }

    private static ApiFamily FamilyOf(HttpContext http) =>
        http.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) ? ApiFamily.Ollama : ApiFamily.OpenAi;

    private static string RetryAfterSeconds(TimeSpan wait) =>
        Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static async Task RefuseAsync(HttpContext http, RequestOutcome record, ApiFamily family, int status, string message, string type, string code, string outcome)
    {
        record.Status = status;
        record.Outcome = outcome;
        await WriteErrorAsync(http, family, status, message, type, code);
    }

    private static async Task WriteErrorAsync(HttpContext http, ApiFamily family, int status, string message, string type, string code)
    {
        var format = family == ApiFamily.OpenAi ? ApiFormat.OpenAI : ApiFormat.Ollama;
        await KeyAuthentication.Error(format, status, message, type, code).ExecuteAsync(http);
    }

    private static string AuthMessage(KeyAuthFailure failure) => failure switch
    {
        KeyAuthFailure.Missing => "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.",
        KeyAuthFailure.Malformed => "Invalid API key: not an LlmSecOps key (lso_...) or its checksum is wrong.",
        KeyAuthFailure.Revoked => "This API key has been revoked.",
        KeyAuthFailure.Expired => "This API key has expired.",
        _ => "Invalid API key.",
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Refused a model-management route ({Method}) on the data plane, request {RequestId}.")]
        public static partial void ManagementRouteRefused(ILogger logger, string method, string requestId);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Upstream failed ({Error}) for request {RequestId}.")]
        public static partial void UpstreamFailed(ILogger logger, ForwarderError error, string requestId);

        [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "The upstream's model {Model} changed digest to {Digest}: refused until re-approved.")]
        public static partial void ModelDigestChanged(ILogger logger, string model, string digest);
    }
}

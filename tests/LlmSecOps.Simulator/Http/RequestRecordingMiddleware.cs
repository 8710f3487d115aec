using System.Text;
using LlmSecOps.Simulator.Control;
using LlmSecOps.Simulator.State;
using Microsoft.AspNetCore.Http.Features;

namespace LlmSecOps.Simulator.Http;

/// <summary>
/// First in the pipeline: reads the body, records the request (method, raw target, every header, body) in the
/// request log before any routing, so requests to routes that do not exist are recorded too, then applies the
/// <see cref="SimulatorSwitches.FailStatusCode"/> switch. The control API (<c>/_sim/</c>) is neither recorded nor failed.
/// </summary>
internal sealed class RequestRecordingMiddleware(RequestDelegate next, SimulatorState state, TimeProvider time)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments(ControlEndpoints.Prefix, StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        BufferedBody body;
        try
        {
            body = await BufferedBody.ReadAsync(context.Request.BodyReader, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            context.Response.StatusCode = ex.StatusCode;
            return;
        }

        using (body)
        {
            context.Features.Set(body);
            Record(context, body);

            if (state.TakeFailStatus() is { } status)
            {
                if (status is 429 or 503)
                {
                    context.Response.Headers.RetryAfter = "1"; // RFC 9110 section 10.2.3
                }

                await ApiErrors.WriteAsync(context, status, "simulated upstream failure (FailStatusCode switch)",
                    status >= 500 ? "server_error" : "invalid_request_error", status == 503 ? "service_unavailable" : null);
                return;
            }

            await next(context);
        }
    }

    private void Record(HttpContext context, BufferedBody body)
    {
        var log = state.Requests;
        if (log.Capacity == 0)
        {
            return;
        }

        var request = context.Request;
        var headers = new List<KeyValuePair<string, string>>(request.Headers.Count);
        foreach (var (name, values) in request.Headers)
        {
            foreach (var value in values)
            {
                headers.Add(new(name, value ?? ""));
            }
        }

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (request.PathBase + request.Path + request.QueryString).ToString();
        var keep = Math.Min(body.Length, state.Options.RequestLogBodyBytes);
        var text = keep == 0 ? "" : Encoding.UTF8.GetString(body.Memory.Span[..keep]);
        log.Add(new RecordedRequest(log.NextSequence(), time.GetUtcNow(), request.Method, rawTarget,
            request.Path.Value ?? "", headers, body.Length, text));
    }
}

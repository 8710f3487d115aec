using Npgsql;

namespace LlmSecOps.Gateway.Admin;

/// <summary>
/// Turns an unexpected failure of an admin route into ProblemDetails (never a stack trace): 503 when the database
/// is unreachable, 500 otherwise, with the trace id to find the logged exception. The transaction was rolled back.
/// </summary>
public static partial class AdminErrors
{
    /// <summary>Adds the filter to a route group (first, so it wraps authentication too).</summary>
    public static RouteGroupBuilder HandleAdminErrors(this RouteGroupBuilder group)
    {
        group.AddEndpointFilter(async (context, next) =>
        {
            try
            {
                return await next(context);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !context.HttpContext.RequestAborted.IsCancellationRequested)
            {
                var http = context.HttpContext;
                var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("LlmSecOps.Gateway.Admin");
                LogFailed(logger, http.Request.Method, http.Request.Path, ex);
                var unavailable = ex is NpgsqlException { IsTransient: true } or TimeoutException;
                return Results.Problem(
                    statusCode: unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError,
                    title: unavailable ? "The database is unavailable." : "Internal error.",
                    detail: "Nothing was changed. The error is logged with this request's trace id.",
                    extensions: new Dictionary<string, object?> { ["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? http.TraceIdentifier });
            }
        });
        return group;
    }

    [LoggerMessage(EventId = 1102, Level = LogLevel.Error, Message = "Admin request {Method} {Path} failed")]
    private static partial void LogFailed(ILogger logger, string method, string path, Exception exception);
}

using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmSecOps.Cli.Api;

/// <summary>
/// A thin client for the control-plane API: sends JSON with the bearer token, returns the JSON answer, and turns
/// every failure into <see cref="AdminApiException"/> (the API answered no) or <see cref="CliException"/> with exit
/// code 3 (the API could not be reached).
/// </summary>
public sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly AdminTarget _target;

    /// <summary>Creates a client for <paramref name="target"/>.</summary>
    public AdminClient(AdminTarget target, TimeSpan timeout)
    {
        _target = target;
        // No automatic redirects: a redirect could carry the request (and, with some handlers, the token) somewhere
        // the operator did not name; a 3xx is reported as an error instead.
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, ConnectTimeout = timeout };
        _http = new HttpClient(handler) { BaseAddress = target.BaseUrl, Timeout = timeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", target.Token);
        _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("llmsecops-cli", "1.0"));
    }

    /// <summary>GET <paramref name="path"/>.</summary>
    public Task<JsonElement?> GetAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Get, path, null, cancellationToken);

    /// <summary>
    /// Sends a request; <paramref name="path"/> is relative to the base URL (e.g. <c>admin/tenants</c>). Returns the
    /// JSON body of a 2xx answer (null when empty).
    /// </summary>
    public async Task<JsonElement?> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new CliException(ExitCodes.ConnectionFailure,
                $"Cannot reach the admin API at {_target.BaseUrl}: {Innermost(ex).Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.ConnectionFailure,
                $"The admin API at {_target.BaseUrl} did not answer within {_http.Timeout.TotalSeconds:0} s (--timeout).");
        }

        using (response)
        {
            string text;
            try
            {
                text = await response.Content.ReadAsStringAsync(cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                throw new CliException(ExitCodes.ConnectionFailure, $"The connection to {_target.BaseUrl} broke while reading the answer: {Innermost(ex).Message}");
            }

            if (!response.IsSuccessStatusCode)
            {
                throw AdminApiException.FromResponse(response.StatusCode, response.ReasonPhrase, text);
            }

            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            try
            {
                using var document = JsonDocument.Parse(text);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new CliException(ExitCodes.ApiError,
                    $"The server at {_target.BaseUrl} answered {(int)response.StatusCode} with a body that is not JSON; is this the LlmSecOps admin listener (port 8081)?");
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }
}

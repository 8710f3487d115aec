using System.Net;
using System.Text.Json;
using LlmSecOps.Cli.Api;
using LlmSecOps.Cli.Output;

namespace LlmSecOps.Cli.Tests.Output;

public sealed class RendererTests
{
    private const string ValidationProblem = """
        {"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"The request is invalid.","status":400,
         "detail":"2 problem(s); nothing was changed.",
         "errors":{"name":["A name of 1-200 characters."],"scopes[1]":["'admin' is not a scope; use chat, completions, embeddings, models."]}}
        """;

    private static (Renderer Renderer, StringWriter Out, StringWriter Err) Create(bool json)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        return (new Renderer(CliHost.ForWriters(stdout, stderr), json), stdout, stderr);
    }

    [Fact]
    public void ValidationProblemsListEveryFieldAndMessage()
    {
        var (renderer, stdout, stderr) = Create(json: false);
        var problem = AdminApiException.FromResponse(HttpStatusCode.BadRequest, "Bad Request", ValidationProblem);
        renderer.Problem(problem);

        Assert.Equal(ExitCodes.ApiError, problem.ExitCode);
        Assert.Equal("", stdout.ToString());
        var lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("error: 400 The request is invalid.", lines[0]);
        Assert.Equal("  2 problem(s); nothing was changed.", lines[1]);
        Assert.Equal("  - name: A name of 1-200 characters.", lines[2]);
        Assert.Equal("  - scopes[1]: 'admin' is not a scope; use chat, completions, embeddings, models.", lines[3]);
    }

    [Fact]
    public void WithJsonTheProblemDocumentGoesToStderrUnchanged()
    {
        var (renderer, stdout, stderr) = Create(json: true);
        renderer.Problem(AdminApiException.FromResponse(HttpStatusCode.BadRequest, "Bad Request", ValidationProblem));
        Assert.Equal("", stdout.ToString());
        using var document = JsonDocument.Parse(stderr.ToString());
        Assert.Equal("A name of 1-200 characters.", document.RootElement.GetProperty("errors").GetProperty("name")[0].GetString());
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, ExitCodes.AuthFailure, "did not accept the token")]
    [InlineData(HttpStatusCode.Forbidden, ExitCodes.AuthFailure, "its role may not do this")]
    [InlineData(HttpStatusCode.NotFound, ExitCodes.ApiError, "No key has id")]
    [InlineData(HttpStatusCode.Conflict, ExitCodes.ApiError, "No key has id")]
    [InlineData(HttpStatusCode.InternalServerError, ExitCodes.ApiError, "No key has id")]
    public void StatusCodesMapToTheDocumentedExitCodes(HttpStatusCode status, int exitCode, string expected)
    {
        var (renderer, _, stderr) = Create(json: false);
        var problem = AdminApiException.FromResponse(status, null, """{"title":"Key not found.","detail":"No key has id 'x'."}""");
        renderer.Problem(problem);
        Assert.Equal(exitCode, problem.ExitCode);
        Assert.Contains(expected, stderr.ToString());
    }

    [Fact]
    public void ABodyThatIsNotJsonIsShownAsABoundedExcerpt()
    {
        var problem = AdminApiException.FromResponse(HttpStatusCode.BadGateway, "Bad Gateway", "<html>" + new string('x', 5000) + "</html>");
        Assert.Equal("Bad Gateway", problem.Title);
        Assert.True(problem.Detail!.Length <= 301);
        Assert.Null(problem.Body);
    }

    [Fact]
    public void ServerTextThatLooksLikeMarkupIsPrintedLiterally()
    {
        var (renderer, stdout, _) = Create(json: false);
        using var document = JsonDocument.Parse("""[{"id":"ten_1","name":"[red]evil[/] [bold","tier":"default"}]""");
        renderer.List(document.RootElement, "none", "id", "name", "tier");
        Assert.Contains("[red]evil[/] [bold", stdout.ToString());
    }

    [Fact]
    public void ControlCharactersFromTheServerNeverReachTheTerminal()
    {
        var (renderer, stdout, _) = Create(json: false);
        using var document = JsonDocument.Parse("""{"summary":"leak\u001b[2J\u001b]0;pwned\u0007 found","evidence":{"path":"a\u009bb"}}""");
        renderer.Object(document.RootElement, "Incident");
        var text = stdout.ToString();
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\u0007', text);
        Assert.DoesNotContain('\u009b', text);
        Assert.Contains("leak\uFFFD[2J\uFFFD]0;pwned\uFFFD found", text);
    }

    [Fact]
    public void ListsShowTheChosenColumnsThatExistAndCountTheRows()
    {
        var (renderer, stdout, _) = Create(json: false);
        using var document = JsonDocument.Parse("""
            [{"id":"AAAAAAAAAAAA","env":"live","scopes":["chat","models"],"status":"active","expiresAt":null,"budget":{"dailyTokens":5}},
             {"id":"BBBBBBBBBBBB","env":"test","scopes":[],"status":"revoked","expiresAt":"2027-01-01T00:00:00Z","budget":{"dailyTokens":null}}]
            """);
        renderer.List(document.RootElement, "none", "id", "name", "env", "scopes", "status", "expiresAt");
        var text = stdout.ToString();
        Assert.Contains("chat, models", text);
        Assert.Contains("2027-01-01 00:00:00Z", text);
        Assert.DoesNotContain("name", text);      // no row has it
        Assert.DoesNotContain("budget", text);    // not asked for
        Assert.Contains("2 row(s)", text);
    }

    [Fact]
    public void NestedObjectsAreShownAsDottedFieldRows()
    {
        var (renderer, stdout, _) = Create(json: false);
        using var document = JsonDocument.Parse("""{"id":"ten_1","budget":{"dailyTokens":1000,"monthlyTokens":null},"tier":"default"}""");
        renderer.Object(document.RootElement, "Tenant", "id", "tier", "id", "missing");
        var rows = stdout.ToString().Split('\n').Select(l => string.Join(' ', l.Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.Contains("budget.dailyTokens 1000", rows);
        Assert.Contains("budget.monthlyTokens -", rows);
        Assert.True(rows.IndexOf("id ten_1") < rows.IndexOf("tier default"));
        Assert.True(rows.IndexOf("tier default") < rows.IndexOf("budget.dailyTokens 1000"));
        Assert.Single(rows, r => r == "id ten_1");
    }

    [Theory]
    [InlineData("2026-11-22T01:57:18.002524Z", "2026-11-22 01:57:18Z")]
    [InlineData("2027-02-20T01:57:17Z", "2027-02-20 01:57:17Z")]
    [InlineData("billing-app", "billing-app")]
    [InlineData("2026-11-22T01:57:18+02:00", "2026-11-22T01:57:18+02:00")]
    public void TablesShowUtcTimestampsToTheSecond(string value, string shown) =>
        Assert.Equal(shown, Renderer.Format(JsonDocument.Parse(JsonSerializer.Serialize(value)).RootElement));

    [Fact]
    public void AnEmptyListPrintsTheEmptyMessage()
    {
        var (renderer, stdout, _) = Create(json: false);
        using var document = JsonDocument.Parse("[]");
        renderer.List(document.RootElement, "The tenant has no keys.", "id");
        Assert.Equal("The tenant has no keys.", stdout.ToString().Trim());
    }

    [Fact]
    public void JsonModePrintsTheAnswerAsIndentedJsonOnStdout()
    {
        var (renderer, stdout, _) = Create(json: true);
        using var document = JsonDocument.Parse("""{"id":"ten_1","name":"Acme & Söhne <EU>"}""");
        renderer.Object(document.RootElement, "Tenant", "id");
        using var reparsed = JsonDocument.Parse(stdout.ToString());
        Assert.Equal("Acme & Söhne <EU>", reparsed.RootElement.GetProperty("name").GetString());
        Assert.Contains("Acme & Söhne <EU>", stdout.ToString());
        Assert.Contains("\n", stdout.ToString().Trim());
    }

    [Fact]
    public void ASecretIsPrintedOnALineOfItsOwnUnderAClearLabel()
    {
        var (renderer, stdout, _) = Create(json: false);
        renderer.SecretOnce("API key", "lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz");
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("shown ONCE", lines[0]);
        Assert.Equal("lso_live_000000000001_0123456789abcdefghijABCDEFGHIJKL4TcXmz", lines[1]);
    }
}

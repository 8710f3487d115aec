using System.Net;
using System.Net.Http.Json;
using LlmSecOps.Gateway.Tests.Infrastructure;

namespace LlmSecOps.Gateway.Tests.Incidents;

public sealed class IncidentTests
{
    [Fact]
    public async Task ServicesOpenIncidentsThatOperatorsAcknowledgeAndResolve()
    {
        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (keyId, _) = await host.IssueKeyAsync(tenant);
        using var service = host.Admin(await host.IssueTokenAsync("service"));
        var opened = await service.PostAsJsonAsync("/admin/incidents", new
        {
            source = "model-digest", keyId, model = "llama3.2:1b", summary = "digest changed behind the same name",
            evidence = new { pinned = "sha256:aa", served = "sha256:bb" },
        });
        Assert.Equal(HttpStatusCode.Created, opened.StatusCode);
        var incident = await opened.ReadAsync();
        Assert.Equal(tenant, incident.Str("tenantId"));
        Assert.Equal("open", incident.Str("status"));
        Assert.Equal("sha256:bb", incident.GetProperty("evidence").Str("served"));

        using var auditor = host.Admin(await host.IssueTokenAsync("auditor"));
        Assert.Equal(1, (await (await auditor.GetAsync($"/admin/incidents?source=model-digest&keyId={keyId}")).ReadAsync()).GetArrayLength());
        Assert.Equal(0, (await (await auditor.GetAsync("/admin/incidents?source=leak")).ReadAsync()).GetArrayLength());

        using var operatorClient = host.Admin(await host.IssueTokenAsync("operator"));
        var id = incident.Str("id");
        Assert.Equal("acknowledged", (await (await operatorClient.PostAsync($"/admin/incidents/{id}/acknowledge", null)).ReadAsync()).Str("status"));
        Assert.Equal("resolved", (await (await operatorClient.PostAsync($"/admin/incidents/{id}/resolve", null)).ReadAsync()).Str("status"));
        Assert.Equal(HttpStatusCode.Conflict, (await operatorClient.PostAsync($"/admin/incidents/{id}/acknowledge", null)).StatusCode);
        Assert.Equal(1, (await (await auditor.GetAsync("/admin/incidents?status=resolved")).ReadAsync()).GetArrayLength());
    }

    [Fact]
    public async Task ABadIncidentListsEveryProblemAndOpensNothing()
    {
        await using var host = await GatewayHost.StartAsync();
        using var service = host.Admin(await host.IssueTokenAsync("service"));
        var response = await service.PostAsJsonAsync("/admin/incidents", new { source = "rumour", keyId = "000000000000", summary = "" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.ReadAsync()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("source", out _));
        Assert.True(errors.TryGetProperty("summary", out _));
        Assert.True(errors.TryGetProperty("keyId", out _));
        using var admin = host.Admin();
        Assert.Equal(0, (await (await admin.GetAsync("/admin/incidents")).ReadAsync()).GetArrayLength());
        var badQuery = await admin.GetAsync("/admin/incidents?status=closed&limit=abc");
        Assert.Equal(HttpStatusCode.BadRequest, badQuery.StatusCode);
        var queryErrors = (await badQuery.ReadAsync()).GetProperty("errors");
        Assert.True(queryErrors.TryGetProperty("status", out _));
        Assert.True(queryErrors.TryGetProperty("limit", out _));
    }
}

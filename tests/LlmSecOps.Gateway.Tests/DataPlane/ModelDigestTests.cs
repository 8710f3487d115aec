using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace LlmSecOps.Gateway.Tests.DataPlane;

public sealed class ModelDigestTests
{
    [Fact]
    public async Task AModelWhoseUpstreamDigestChangedIsRefusedAndOpensOneModelDigestIncident()
    {
        await using var f = await DataPlaneFixture.StartAsync();
        using var client = f.Client();
        StringContent Chat() => new($$"""{"model":"{{DataPlaneFixture.Model}}","stream":false,"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);

        Assert.True(f.Simulator.State.Models.SetDigest(DataPlaneFixture.Model, "sha256:" + new string('e', 64)));
        f.Simulator.State.Requests.Clear();
        for (var i = 0; i < 2; i++)
        {
            var refused = await client.PostAsync("/v1/chat/completions", Chat());
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("model_digest_changed", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString());
        }

        Assert.DoesNotContain(f.UpstreamRequests(), r => r.Path == "/v1/chat/completions");
        using var admin = f.Gateway.Admin();
        var incidents = await admin.GetFromJsonAsync<JsonElement>("/admin/incidents?source=model-digest");
        var list = incidents.ValueKind == JsonValueKind.Array ? incidents : incidents.EnumerateObject().First(p => p.Value.ValueKind == JsonValueKind.Array).Value;
        var incident = Assert.Single(list.EnumerateArray());
        Assert.Equal(DataPlaneFixture.Model, incident.GetProperty("model").GetString());

        // Re-approving the new digest lets the model through again.
        (await admin.PutAsJsonAsync($"/admin/models/{DataPlaneFixture.Model}", new { digest = "sha256:" + new string('e', 64) })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using LlmSecOps.Contracts.Keys;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Redis;
using LlmSecOps.Testing;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.Keys;

public sealed class KeyCanaryTests
{
    [Fact]
    public async Task AfterIssuingAndUsingAKeyItAppearsInNoTableLogTraceOrCacheEntry()
    {
        var traces = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => traces.Enqueue(string.Join("|", new[] { a.Source.Name, a.DisplayName, a.StatusDescription ?? "" }
                .Concat(a.TagObjects.Select(t => $"{t.Key}={t.Value}"))
                .Concat(a.Baggage.Select(t => $"{t.Key}={t.Value}"))
                .Concat(a.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name}:{t.Key}={t.Value}"))))),
        };
        ActivitySource.AddActivityListener(listener);

        await using var host = await GatewayHost.StartAsync();
        var tenant = await host.CreateTenantAsync();
        var (id, key) = await host.IssueKeyAsync(tenant);
        using (var data = host.Data(key))
        {
            Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/v1/models")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await data.GetAsync("/api/tags")).StatusCode);
        }

        using (var apiKey = new HttpClient { BaseAddress = new Uri(host.DataUrl) })
        {
            apiKey.DefaultRequestHeaders.Add("x-api-key", key);
            Assert.Equal(HttpStatusCode.OK, (await apiKey.GetAsync("/v1/models")).StatusCode);
        }

        using (var service = host.Admin(await host.IssueTokenAsync("service")))
        {
            Assert.Equal(HttpStatusCode.OK, (await service.PostAsJsonAsync("/admin/keys/lookup", new { tokenHash = ApiKey.TokenHash(key) })).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await service.PostAsJsonAsync($"/admin/keys/{id}/revoke", new { reason = "canary", source = "manual" })).StatusCode);
        }

        using (var data = host.Data(key))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await data.GetAsync("/v1/models")).StatusCode);
        }

        var sha = SHA256.HashData(Encoding.ASCII.GetBytes(key));
        var needles = new[]
        {
            key,
            key[ApiKey.Prefix.Length..],
            key.Substring(22, ApiKey.SecretLength),                // the secret alone
            Convert.ToHexStringLower(sha),                          // the plain token hash (also as bytea hex)
            Convert.ToBase64String(sha),
        };

        var haystacks = new List<(string Where, string Text)>();
        await using (var connection = new NpgsqlConnection(host.DatabaseConnectionString))
        {
            await connection.OpenAsync();
            var tables = new List<string>();
            await using (var list = new NpgsqlCommand(
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
                connection))
            await using (var reader = await list.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    tables.Add(reader.GetString(0));
                }
            }

            Assert.Contains("gateway.keys", tables);
            foreach (var table in tables)
            {
                await using var select = new NpgsqlCommand($"SELECT t::text FROM {table} t", connection);
                await using var reader = await select.ExecuteReaderAsync();
                var rows = new StringBuilder();
                while (await reader.ReadAsync())
                {
                    rows.AppendLine(reader.GetString(0));
                }

                haystacks.Add(($"table {table}", rows.ToString()));
            }
        }

        await using (var redis = await RedisConnection.ConnectAsync(await TestServers.RedisAsync()))
        {
            var keys = await redis.ExecuteAsync("KEYS", host.RedisPrefix + "*");
            Assert.True(keys.Length > 0, "the key status cache should hold the key's record");
            foreach (var redisKey in keys.AsArray()!)
            {
                var name = redisKey.AsString()!;
                haystacks.Add(($"redis {name}", name + " " + await redis.GetAsync(name)));
            }
        }

        haystacks.Add(("logs", string.Join("\n", host.Logs.Lines)));
        haystacks.Add(("traces", string.Join("\n", traces)));
        Assert.NotEmpty(host.Logs.Lines);
        Assert.NotEmpty(traces);

        foreach (var (where, text) in haystacks)
        {
            foreach (var needle in needles)
            {
                Assert.False(text.Contains(needle, StringComparison.Ordinal), $"found '{needle[..8]}...' in {where}");
            }
        }

        // The search can fail: the key id (public) is there, so the haystacks are the right ones.
        Assert.Contains(haystacks, h => h.Where == "table gateway.keys" && h.Text.Contains(id, StringComparison.Ordinal));
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using LlmSecOps.Gateway.Tests.Infrastructure;
using LlmSecOps.Redis;
using LlmSecOps.Simulator.State;
using Npgsql;

namespace LlmSecOps.Gateway.Tests.DataPlane;

/// <summary>
/// The canary runs alone: it sets the process-wide <c>OTEL_EXPORTER_OTLP_*</c> variables while its gateway starts
/// (the OpenTelemetry exporters read them from the environment, as under Aspire) and listens to every
/// <see cref="ActivitySource"/> in the process, so no other gateway may start or run beside it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KeyCanaryCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Key canary (runs alone)";
}

/// <summary>
/// Issue 4 point 1: a key is issued and used, then every place the gateway writes to is searched for it — logs,
/// traces (every <see cref="Activity"/> in the process and the OTLP bytes actually exported), events, every Redis key
/// under the gateway's prefix, every database table, the on-disk journals and audit checkpoint, and what the upstream
/// received. Keys presented the wrong way (query string, body, bad checksum, revoked) are searched for too.
/// </summary>
[Collection(KeyCanaryCollection.Name)]
public sealed class KeyCanaryEverywhereTests
{
    private static StringContent Chat(bool stream = false, string extra = "") =>
        new($$"""{"model":"{{DataPlaneFixture.Model}}","stream":{{(stream ? "true" : "false")}},{{extra}}"messages":[{"role":"user","content":"hello"}]}""", Encoding.UTF8, "application/json");

    [Fact]
    public async Task TheKeyAndEveryWronglyPresentedKeyAppearNowhereInLogsTracesOtlpEventsRedisDatabaseJournalsOrUpstream()
    {
        var activities = new ConcurrentQueue<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => activities.Enqueue(Describe(a)),
        };
        ActivitySource.AddActivityListener(listener);

        await using var otlp = await OtlpReceiver.StartAsync();
        var serviceName = "canary-" + Guid.NewGuid().ToString("N")[..12];
        var journal = Path.Combine(Path.GetTempPath(), "llmsecops-canary-journal-" + Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string?>
        {
            ["DataPlane:UpstreamApiKey"] = "upstream-secret-credential",
            ["DataPlane:JournalDirectory"] = journal,
            ["OTEL_SERVICE_NAME"] = serviceName,
        };

        // The exporters read OTEL_* from the environment when the providers are built (at start-up). Short export
        // intervals keep data flowing during the run, so the test does not hang on the shutdown flush alone.
        var otelEnvironment = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        };
        DataPlaneFixture f;
        foreach (var (name, value) in otelEnvironment)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            f = await DataPlaneFixture.StartAsync(settings);
        }
        finally
        {
            foreach (var name in otelEnvironment.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }

        var haystack = new StringBuilder();
        var gatewayStopped = false;
        try
        {
            // More keys of the same tenant, each presented in a way that must not work.
            var (_, inQuery) = await f.Gateway.IssueKeyAsync(f.TenantId, new { name = "query" });
            var (_, inBody) = await f.Gateway.IssueKeyAsync(f.TenantId, new { name = "body" });
            var (revokedId, revoked) = await f.Gateway.IssueKeyAsync(f.TenantId, new { name = "revoked" });
            var (inPathId, inPath) = await f.Gateway.IssueKeyAsync(f.TenantId, new { name = "path" });
            var badChecksum = f.Key[..^1] + (f.Key[^1] == 'A' ? 'B' : 'A');
            var expectedEvents = 0;

            // The canary key, on both APIs, with both header spellings, streaming and not.
            using (var client = f.Client())
            {
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions", Chat())).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/chat", Chat(stream: true))).StatusCode);
                expectedEvents += 2;

                // Model listings publish no event (yet): driven for the logs and traces, not counted.
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/tags")).StatusCode);

                // A valid credential plus another key in the query string: the query string is not forwarded or logged.
                Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/chat/completions?api_key=" + inQuery, Chat())).StatusCode);
                expectedEvents++;
            }

            using (var apiKey = f.Gateway.Data())
            {
                apiKey.DefaultRequestHeaders.Add("x-api-key", f.Key);
                Assert.Equal(HttpStatusCode.OK, (await apiKey.PostAsync("/v1/chat/completions", Chat(stream: true))).StatusCode);
                expectedEvents++;
            }

            using (var anonymous = f.Gateway.Data())
            {
                // ?api_key= is not a way to authenticate (and so is never honoured, whatever it holds).
                Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/v1/chat/completions?api_key=" + inQuery, Chat())).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/api/chat?key=" + inQuery, Chat())).StatusCode);

                // Neither is a key in the body.
                Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/v1/chat/completions", Chat(extra: $"\"api_key\":\"{inBody}\",\"user\":\"{inBody}\","))).StatusCode);
                expectedEvents += 3;
            }

            using (var bad = f.Client(badChecksum))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await bad.PostAsync("/v1/chat/completions", Chat())).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await bad.PostAsync("/api/chat", Chat())).StatusCode);
                expectedEvents += 2;
            }

            using (var revokedClient = f.Client(revoked))
            {
                Assert.Equal(HttpStatusCode.OK, (await revokedClient.PostAsync("/v1/chat/completions", Chat())).StatusCode);
                using (var admin = f.Gateway.Admin())
                {
                    (await admin.PostAsJsonAsync($"/admin/keys/{revokedId}/revoke", new { reason = "canary", source = "manual" })).EnsureSuccessStatusCode();
                }

                Assert.Equal(HttpStatusCode.Unauthorized, (await revokedClient.PostAsync("/v1/chat/completions", Chat())).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await revokedClient.PostAsync("/api/chat", Chat(stream: true))).StatusCode);
                expectedEvents += 3;
            }

            // Events: one per request.
            var events = await f.EventsAsync(expectedEvents);
            Assert.Equal(expectedEvents, events.Count);
            haystack.AppendJoin('\n', events.SelectMany(e => e.Keys.Concat(e.Values))).Append('\n');

            // A key in the URL path (a misconfigured client): refused, and masked in everything exported (the span's path
            // and any log message quoting it). In-process log providers that include scopes or Debug routing logs still
            // see the raw path, so this variant is searched in the exported telemetry, where operators' logs end up.
            using (var anonymous = f.Gateway.Data())
            {
                var response = await anonymous.PostAsync($"/v1/{inPath}/chat/completions", Chat());
                Assert.True((int)response.StatusCode is >= 400 and < 500, $"a key in the path got {(int)response.StatusCode}");
            }

            // The upstream: our credential replaced the client's, and nothing else of the client's came along.
            var upstream = f.AllUpstreamRequests();
            Assert.Contains(upstream, r => r.Path == "/v1/chat/completions");
            Assert.Contains(upstream, r => r.Path == "/api/chat");
            foreach (RecordedRequest r in upstream)
            {
                Assert.Equal("Bearer upstream-secret-credential", r.Header("Authorization"));
                Assert.Null(r.Header("x-api-key"));
                Assert.DoesNotContain("api_key", r.RawTarget, StringComparison.Ordinal);
                haystack.AppendJoin('\n', r.Headers.Select(h => h.Key + ": " + h.Value)).Append('\n').Append(r.Body).Append('\n').Append(r.RawTarget).Append('\n');
            }

            // Database: every table of every schema, once the batched record writer has written every request.
            var requestIds = events.Select(e => e["request_id"]).ToArray();
            await WaitForRecordsAsync(f.Gateway.DatabaseConnectionString, requestIds);
            await DumpDatabaseAsync(f.Gateway.DatabaseConnectionString, haystack);

            // Redis: every key under the gateway's prefix, whatever its type.
            var redisKeys = await DumpRedisAsync(f.Redis, f.Gateway.RedisPrefix, haystack);
            Assert.Contains(redisKeys, k => k.EndsWith("llmsecops:events", StringComparison.Ordinal));

            // Stopping the gateway flushes its OTLP exporters and closes its journals; logs and activities are complete after that.
            await f.DisposeAsync();
            gatewayStopped = true;

            // On disk: the journals (records, usage, whatever else spills there) and the audit checkpoint.
            Assert.True(DumpFiles(journal, haystack) > 0, "the gateway created no journal file under DataPlane:JournalDirectory");
            if (File.Exists(f.Gateway.CheckpointPath))
            {
                haystack.Append(await File.ReadAllTextAsync(f.Gateway.CheckpointPath)).Append('\n');
            }

            haystack.AppendJoin('\n', f.Gateway.Logs.Lines).Append('\n');
            haystack.AppendJoin('\n', activities).Append('\n');

            // The exported telemetry must really be there (and be this gateway's), or the search below proves nothing.
            Assert.True(await otlp.WaitUntilAsync(r => r.Contains("traces", serviceName) && r.Contains("logs", serviceName) && r.Contains("metrics", serviceName),
                TimeSpan.FromSeconds(30)), "the OTLP receiver did not get traces, logs and metrics from the gateway: " + string.Join(",", otlp.All().Select(b => b.Signal).Distinct()));
            Assert.True(otlp.Contains("traces", "/v1/chat/completions"), "the exported traces do not show the data-plane requests");
            Assert.True(otlp.Contains("logs", "LlmSecOps.Gateway."), "the exported logs hold nothing of the gateway's own categories");

            Assert.True(await otlp.WaitUntilAsync(r => r.Contains("traces", inPathId), TimeSpan.FromSeconds(30)),
                "the span of the request with a key in its path was not exported (so its masking cannot be checked)");
            Assert.True(otlp.Contains("traces", inPathId + "_" + ServiceDefaults.Telemetry.SecretScrubbing.Mask), "the key in the path was not masked in the exported span");
            var pathSecret = inPath.Split('_')[3];
            foreach (var (signal, body) in otlp.All())
            {
                Assert.False(body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(pathSecret)) >= 0, $"the secret part of a key in the URL path was exported over OTLP ({signal}): {Around(Encoding.UTF8.GetString(body), pathSecret)}");
            }

            var text = haystack.ToString();
            Assert.Contains(f.KeyId, text, StringComparison.Ordinal); // the public id is allowed and present, so the search is real
            Assert.Contains("/v1/chat/completions", string.Join('\n', activities), StringComparison.Ordinal);
            foreach (var (what, presented) in new[] { ("key", f.Key), ("key in the query string", inQuery), ("key in the body", inBody), ("key with a bad checksum", badChecksum), ("revoked key", revoked) })
            {
                var secret = presented.Split('_')[3];
                Assert.False(text.Contains(presented, StringComparison.Ordinal), $"the {what} was found: {Around(text, presented)}");
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"the secret part of the {what} was found: {Around(text, secret)}");
                foreach (var (signal, body) in otlp.All())
                {
                    Assert.False(body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"the secret part of the {what} was exported over OTLP ({signal}): {Around(Encoding.UTF8.GetString(body), secret)}");
                }
            }
        }
        finally
        {
            if (!gatewayStopped)
            {
                await f.DisposeAsync();
            }

            if (Directory.Exists(journal))
            {
                Directory.Delete(journal, recursive: true);
            }
        }
    }

    private static string Describe(Activity a)
    {
        var s = new StringBuilder();
        s.Append(a.Source.Name).Append('|').Append(a.OperationName).Append('|').Append(a.DisplayName).Append('|').Append(a.StatusDescription)
            .Append('|').Append(a.TraceStateString);
        foreach (var t in a.TagObjects)
        {
            s.Append('|').Append(t.Key).Append('=').Append(t.Value);
        }

        foreach (var b in a.Baggage)
        {
            s.Append("|baggage:").Append(b.Key).Append('=').Append(b.Value);
        }

        foreach (var e in a.Events)
        {
            s.Append("|event:").Append(e.Name);
            foreach (var t in e.Tags)
            {
                s.Append(';').Append(t.Key).Append('=').Append(t.Value);
            }
        }

        foreach (var l in a.Links)
        {
            s.Append("|link:").Append(l.Context.TraceState);
            foreach (var t in l.Tags ?? [])
            {
                s.Append(';').Append(t.Key).Append('=').Append(t.Value);
            }
        }

        return s.ToString();
    }

    private static async Task WaitForRecordsAsync(string connectionString, string[] requestIds)
    {
        await using var db = new NpgsqlConnection(connectionString);
        await db.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long found;
        while (true)
        {
            await using var count = new NpgsqlCommand("SELECT count(*) FROM gateway.request_records WHERE request_id = ANY(@ids)", db);
            count.Parameters.AddWithValue("ids", requestIds);
            found = (long)(await count.ExecuteScalarAsync())!;
            if (found >= requestIds.Length || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(requestIds.Length, found);
    }

    private static async Task DumpDatabaseAsync(string connectionString, StringBuilder haystack)
    {
        await using var db = new NpgsqlConnection(connectionString);
        await db.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema')", db))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        Assert.Contains("gateway.request_records", tables);
        Assert.Contains("gateway.keys", tables);
        foreach (var table in tables)
        {
            await using var dump = new NpgsqlCommand($"SELECT row_to_json(t)::text FROM {table} t", db);
            await using var reader = await dump.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                haystack.Append(table).Append(": ").Append(reader.GetString(0)).Append('\n');
            }
        }
    }

    private static async Task<List<string>> DumpRedisAsync(string connectionString, string prefix, StringBuilder haystack)
    {
        Assert.False(string.IsNullOrEmpty(prefix), "the gateway must run under its own Redis prefix");
        await using var redis = await RedisConnection.ConnectAsync(connectionString);
        var keys = new List<string>();
        var cursor = "0";
        do
        {
            var reply = await redis.ExecuteAsync("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000);
            cursor = reply[0].AsString()!;
            keys.AddRange(reply[1].AsArray()!.Select(k => k.AsString()!));
        }
        while (cursor != "0");

        foreach (var key in keys.Distinct())
        {
            var type = (await redis.ExecuteAsync("TYPE", key)).AsString();
            var value = type switch
            {
                "string" => await redis.ExecuteAsync("GET", key),
                "hash" => await redis.ExecuteAsync("HGETALL", key),
                "list" => await redis.ExecuteAsync("LRANGE", key, 0, -1),
                "set" => await redis.ExecuteAsync("SMEMBERS", key),
                "zset" => await redis.ExecuteAsync("ZRANGE", key, 0, -1, "WITHSCORES"),
                "stream" => await redis.ExecuteAsync("XRANGE", key, "-", "+"),
                "none" => default, // expired between SCAN and TYPE
                _ => throw new InvalidOperationException($"Redis key {key} has a type the canary cannot read: {type}"),
            };
            haystack.Append(key).Append(" (").Append(type).Append("): ");
            Flatten(value, haystack);
            haystack.Append('\n');
        }

        return keys;
    }

    private static void Flatten(RedisValue value, StringBuilder into)
    {
        if (value.Type == RedisValueType.Array)
        {
            foreach (var item in value.AsArray()!)
            {
                Flatten(item, into);
                into.Append(' ');
            }
        }
        else if (!value.IsNull)
        {
            into.Append(value.AsString());
        }
    }

    private static int DumpFiles(string directory, StringBuilder haystack)
    {
        if (!Directory.Exists(directory))
        {
            return 0;
        }

        var files = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            // Journals are binary framing around UTF-8 JSON: Latin-1 keeps every byte as one char, so ASCII keys still match.
            // The journal's folder lock is an empty file held under an exclusive flock (unreadable while held).
            if (Path.GetFileName(file) == "journal.lock")
            {
                Assert.Equal(0, new FileInfo(file).Length);
                continue;
            }

            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            haystack.Append(file).Append(": ").Append(Encoding.Latin1.GetString(bytes.ToArray())).Append('\n');
            files++;
        }

        return files;
    }

    private static string Around(string text, string needle)
    {
        var at = text.IndexOf(needle, StringComparison.Ordinal);
        if (at < 0)
        {
            return "";
        }

        var start = Math.Max(0, at - 300);
        return text[start..Math.Min(text.Length, at + needle.Length + 100)];
    }
}

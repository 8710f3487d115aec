using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using LlmSecOps.Contracts.Events;
using LlmSecOps.Data.Batching;
using LlmSecOps.Data.Journal;
using LlmSecOps.Gateway.Keys;
using LlmSecOps.Redis;

namespace LlmSecOps.Gateway.Events;

/// <summary>One entry of <c>llmsecops:events</c>: exactly the fields of ARCHITECTURE.md "Request events", as strings.</summary>
/// <param name="Fields">Field values in the order of <see cref="RequestEvent.Fields.All"/>.</param>
public sealed record RequestEventEntry(string[] Fields);

/// <summary>Source-generated JSON for the journal.</summary>
[JsonSerializable(typeof(RequestEventEntry))]
internal sealed partial class RequestEventJsonContext : JsonSerializerContext;

/// <summary>Writes batches of events to the Redis stream with <c>XADD ... MAXLEN ~</c>.</summary>
internal sealed class RedisEventSink(Func<Task<RedisConnection>> connection, string streamName) : IBatchSink<RequestEventEntry>
{
    public async Task WriteAsync(IReadOnlyList<RequestEventEntry> batch, CancellationToken cancellationToken)
    {
        var redis = await connection();
        var pending = new Task<string>[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var names = RequestEvent.Fields.All;
            var fields = new (string Field, RedisArg Value)[names.Length];
            for (var f = 0; f < fields.Length; f++)
            {
                fields[f] = (names[f], batch[i].Fields[f]);
            }

            pending[i] = redis.XAddAsync(streamName, fields, RequestEvent.MaxLength);
        }

        await Task.WhenAll(pending).WaitAsync(cancellationToken);
    }
}

/// <summary>
/// Turns a finished request into its event (and its request record) and hands them to durable batch writers: off
/// the hot path, spilled to a bounded on-disk journal while the sink is down. <see cref="CanAccept"/> is false when
/// the journal is full: the data plane then answers 503 rather than serve unrecorded traffic.
/// </summary>
internal sealed class RequestEventPublisher : IAsyncDisposable
{
    private readonly DurableBatchWriter<RequestEventEntry> _events;
    private readonly Records.RequestRecordWriter _records;
    private readonly byte[] _userAgentKey;

    public RequestEventPublisher(DurableBatchWriter<RequestEventEntry> events, Records.RequestRecordWriter records, KeyHasher hasher)
    {
        _events = events;
        _records = records;
        _userAgentKey = hasher.DeriveSecret("user-agent-hash");
    }

    public bool CanAccept => _events.CanAccept && _records.CanAccept;

    public void Publish(RequestOutcome o)
    {
        _events.TryEnqueue(ToEntry(o));
        _records.Publish(o);
    }

    public RequestEventEntry ToEntry(RequestOutcome o)
    {
        var names = RequestEvent.Fields.All;
        var values = new string[names.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = names[i] switch
            {
                RequestEvent.Fields.Ts => o.Ts.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
                RequestEvent.Fields.RequestId => o.RequestId,
                RequestEvent.Fields.KeyId => o.KeyId ?? "",
                RequestEvent.Fields.ClaimedKeyId => o.KeyId is null ? o.ClaimedKeyId : "",
                RequestEvent.Fields.TenantId => o.TenantId ?? "",
                RequestEvent.Fields.Env => o.Env,
                RequestEvent.Fields.ClientIp => o.ClientIp,
                RequestEvent.Fields.Country => o.Country,
                RequestEvent.Fields.UserAgentHash => UserAgentHash(o.UserAgent),
                RequestEvent.Fields.Endpoint => o.Endpoint,
                RequestEvent.Fields.Model => o.Model ?? "",
                RequestEvent.Fields.Status => o.Status.ToString(CultureInfo.InvariantCulture),
                RequestEvent.Fields.Outcome => o.Outcome ?? "",
                RequestEvent.Fields.PromptTokens => o.PromptTokens.ToString(CultureInfo.InvariantCulture),
                RequestEvent.Fields.CompletionTokens => o.CompletionTokens.ToString(CultureInfo.InvariantCulture),
                RequestEvent.Fields.MaxTokensRequested => o.MaxTokensRequested?.ToString(CultureInfo.InvariantCulture) ?? "",
                RequestEvent.Fields.MaxTokensEffective => o.MaxTokensEffective?.ToString(CultureInfo.InvariantCulture) ?? "",
                RequestEvent.Fields.FinishReason => o.FinishReason ?? "",
                RequestEvent.Fields.Stream => o.Stream ? "1" : "0",
                RequestEvent.Fields.LatencyMs => o.LatencyMs.ToString(CultureInfo.InvariantCulture),
                RequestEvent.Fields.TtftMs => o.TtftMs.ToString(CultureInfo.InvariantCulture),
                _ => "",
            };
        }

        return new RequestEventEntry(values);
    }

    private string UserAgentHash(string userAgent)
    {
        if (userAgent.Length == 0)
        {
            return "";
        }

        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_userAgentKey, Encoding.UTF8.GetBytes(userAgent), mac);
        return Convert.ToHexStringLower(mac[..8]);
    }

    public async ValueTask DisposeAsync()
    {
        await _events.DisposeAsync();
        await _records.DisposeAsync();
    }

    /// <summary>Opens the event journal and writer.</summary>
    public static DurableBatchWriter<RequestEventEntry> CreateEventWriter(Func<Task<RedisConnection>> connection, string prefix, string journalDirectory,
        long journalBytes, ILoggerFactory loggers)
    {
        var journal = RecordJournal.Open(new JournalOptions { Directory = journalDirectory, MaxTotalBytes = journalBytes, SegmentBytes = Math.Min(journalBytes, 16L * 1024 * 1024) },
            loggers.CreateLogger("LlmSecOps.Gateway.Events.Journal"));
        return new DurableBatchWriter<RequestEventEntry>(new RedisEventSink(connection, prefix + RequestEvent.StreamName),
            new JsonRecordSerializer<RequestEventEntry>(RequestEventJsonContext.Default.RequestEventEntry), journal,
            new DurableBatchWriterOptions { Name = "request-events", OwnsJournal = true }, loggers.CreateLogger("LlmSecOps.Gateway.Events"));
    }
}

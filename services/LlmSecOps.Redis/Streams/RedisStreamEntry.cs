namespace LlmSecOps.Redis;

/// <summary>One stream entry: its id and its field/value pairs (decoded as UTF-8), in the order stored.</summary>
public sealed class RedisStreamEntry
{
    /// <summary>Creates an entry.</summary>
    public RedisStreamEntry(string id, IReadOnlyList<KeyValuePair<string, string>> fields)
    {
        Id = id;
        Fields = fields;
    }

    /// <summary>The entry id (<c>1700000000000-0</c>).</summary>
    public string Id { get; }

    /// <summary>The fields; empty for an entry that was deleted while still pending.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields { get; }

    /// <summary>The value of <paramref name="field"/>, or <see langword="null"/>.</summary>
    public string? this[string field]
    {
        get
        {
            foreach (var pair in Fields)
            {
                if (string.Equals(pair.Key, field, StringComparison.Ordinal))
                {
                    return pair.Value;
                }
            }

            return null;
        }
    }

    internal static RedisStreamEntry? FromReply(RedisValue reply)
    {
        if (reply.IsNull || reply.Length < 1)
        {
            return null;
        }

        var id = reply[0].AsString()!;
        if (reply.Length < 2 || reply[1].IsNull)
        {
            return new RedisStreamEntry(id, []);
        }

        var raw = reply[1].AsSpan();
        var fields = new KeyValuePair<string, string>[raw.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new(raw[2 * i].AsString()!, raw[(2 * i) + 1].AsString() ?? "");
        }

        return new RedisStreamEntry(id, fields);
    }

    internal static IReadOnlyList<RedisStreamEntry> ListFromReply(RedisValue entries)
    {
        var items = entries.AsSpan();
        var list = new List<RedisStreamEntry>(items.Length);
        foreach (var item in items)
        {
            // Redis 6.2 reports entries deleted while pending as nil in XAUTOCLAIM; 7.0 lists them separately.
            if (FromReply(item) is { } entry)
            {
                list.Add(entry);
            }
        }

        return list;
    }
}

/// <summary>The reply of <c>XAUTOCLAIM</c>.</summary>
/// <param name="NextStartId">Where the next scan starts; <c>0-0</c> when the whole pending list was scanned.</param>
/// <param name="Entries">Entries now owned by the claiming consumer.</param>
/// <param name="DeletedIds">Ids that were pending but no longer exist in the stream (removed from the PEL).</param>
public sealed record RedisAutoClaimResult(string NextStartId, IReadOnlyList<RedisStreamEntry> Entries, IReadOnlyList<string> DeletedIds);

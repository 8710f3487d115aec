using System.Globalization;
using System.Text;

namespace LlmSecOps.Redis;

/// <summary>The kind of a RESP2 reply.</summary>
public enum RedisValueType
{
    /// <summary>A null bulk string or null array (<c>$-1</c> / <c>*-1</c>).</summary>
    Null,

    /// <summary>A simple string (<c>+OK</c>).</summary>
    SimpleString,

    /// <summary>An error inside an array (top-level errors are thrown as <see cref="RedisServerException"/>).</summary>
    Error,

    /// <summary>An integer (<c>:42</c>).</summary>
    Integer,

    /// <summary>A bulk string (<c>$3\r\nabc</c>).</summary>
    BulkString,

    /// <summary>An array (<c>*2 ...</c>).</summary>
    Array,
}

/// <summary>
/// One RESP2 reply: null, a simple string, an integer, a bulk string (raw bytes) or an array of replies.
/// A small struct; bulk strings hold the bytes as received and are decoded (UTF-8) only when asked.
/// </summary>
public readonly struct RedisValue : IEquatable<RedisValue>
{
    private static readonly RedisValue[] EmptyArray = [];
    private readonly object? _object;
    private readonly long _integer;

    private RedisValue(RedisValueType type, object? obj, long integer)
    {
        Type = type;
        _object = obj;
        _integer = integer;
    }

    /// <summary>The null reply.</summary>
    public static RedisValue Null => default;

    /// <summary>The reply kind.</summary>
    public RedisValueType Type { get; }

    /// <summary><see langword="true"/> for a null bulk string or null array.</summary>
    public bool IsNull => Type == RedisValueType.Null;

    /// <summary>Number of elements of an array reply (0 otherwise).</summary>
    public int Length => _object is RedisValue[] a ? a.Length : 0;

    /// <summary>Element <paramref name="index"/> of an array reply.</summary>
    public RedisValue this[int index] => _object is RedisValue[] a
        ? a[index]
        : throw new InvalidOperationException($"A {Type} reply has no elements.");

    internal static RedisValue FromSimple(string s) => new(RedisValueType.SimpleString, s, 0);

    internal static RedisValue FromError(string s) => new(RedisValueType.Error, s, 0);

    internal static RedisValue FromInteger(long n) => new(RedisValueType.Integer, null, n);

    internal static RedisValue FromBulk(byte[] bytes) => new(RedisValueType.BulkString, bytes, 0);

    internal static RedisValue FromArray(RedisValue[] items) => new(RedisValueType.Array, items.Length == 0 ? EmptyArray : items, 0);

    /// <summary>The reply as text: bulk strings decoded as UTF-8, integers formatted; <see langword="null"/> for null.</summary>
    public string? AsString() => Type switch
    {
        RedisValueType.Null => null,
        RedisValueType.SimpleString or RedisValueType.Error => (string)_object!,
        RedisValueType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        RedisValueType.BulkString => Encoding.UTF8.GetString((byte[])_object!),
        _ => throw new InvalidOperationException("An array reply is not a string."),
    };

    /// <summary>The reply as a 64-bit integer (integer replies, or bulk/simple strings holding one).</summary>
    /// <exception cref="InvalidOperationException">The reply is null, an array, or not a number.</exception>
    public long AsInt64()
    {
        if (Type == RedisValueType.Integer)
        {
            return _integer;
        }

        if (Type is RedisValueType.BulkString or RedisValueType.SimpleString &&
            long.TryParse(AsSpanOrString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            return n;
        }

        throw new InvalidOperationException($"A {Type} reply is not an integer.");
    }

    /// <summary>The integer value, or <see langword="null"/> for a null reply.</summary>
    public long? AsNullableInt64() => IsNull ? null : AsInt64();

    /// <summary>The raw bytes of a bulk string (or UTF-8 of a simple string); empty for null.</summary>
    public ReadOnlyMemory<byte> AsBytes() => Type switch
    {
        RedisValueType.BulkString => (byte[])_object!,
        RedisValueType.SimpleString or RedisValueType.Error => Encoding.UTF8.GetBytes((string)_object!),
        RedisValueType.Integer => Encoding.ASCII.GetBytes(_integer.ToString(CultureInfo.InvariantCulture)),
        _ => ReadOnlyMemory<byte>.Empty,
    };

    /// <summary>The elements of an array reply (empty for null); throws for other kinds.</summary>
    public ReadOnlySpan<RedisValue> AsSpan() => Type switch
    {
        RedisValueType.Array => (RedisValue[])_object!,
        RedisValueType.Null => default,
        _ => throw new InvalidOperationException($"A {Type} reply is not an array."),
    };

    /// <summary>The elements of an array reply; <see langword="null"/> for a null reply.</summary>
    public RedisValue[]? AsArray() => Type switch
    {
        RedisValueType.Array => (RedisValue[])_object!,
        RedisValueType.Null => null,
        _ => throw new InvalidOperationException($"A {Type} reply is not an array."),
    };

    /// <summary>Compares a bulk or simple string with ASCII/UTF-8 text without decoding.</summary>
    public bool EqualsText(string text)
    {
        return Type switch
        {
            RedisValueType.SimpleString or RedisValueType.Error => string.Equals((string)_object!, text, StringComparison.Ordinal),
            RedisValueType.BulkString => Utf8Equals((byte[])_object!, text),
            _ => false,
        };

        static bool Utf8Equals(byte[] bytes, string text)
        {
            if (bytes.Length != text.Length)
            {
                return bytes.Length >= text.Length && Encoding.UTF8.GetString(bytes) == text;
            }

            for (var i = 0; i < bytes.Length; i++)
            {
                if (bytes[i] != text[i])
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Type == RedisValueType.Array
        ? $"[{string.Join(", ", ((RedisValue[])_object!).Select(v => v.ToString()))}]"
        : AsString() ?? "(nil)";

    /// <inheritdoc />
    public bool Equals(RedisValue other)
    {
        if (Type != other.Type)
        {
            return false;
        }

        return Type switch
        {
            RedisValueType.Null => true,
            RedisValueType.Integer => _integer == other._integer,
            RedisValueType.BulkString => ((byte[])_object!).AsSpan().SequenceEqual((byte[])other._object!),
            RedisValueType.Array => ((RedisValue[])_object!).AsSpan().SequenceEqual((RedisValue[])other._object!),
            _ => string.Equals((string)_object!, (string)other._object!, StringComparison.Ordinal),
        };
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is RedisValue v && Equals(v);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Type, _integer, AsStringOrNull());

    /// <summary>Equality.</summary>
    public static bool operator ==(RedisValue left, RedisValue right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(RedisValue left, RedisValue right) => !left.Equals(right);

    private string? AsStringOrNull() => Type is RedisValueType.Array or RedisValueType.Integer ? null : AsString();

    private string AsSpanOrString() => Type == RedisValueType.BulkString
        ? Encoding.ASCII.GetString((byte[])_object!)
        : (string)_object!;
}

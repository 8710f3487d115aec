using System.Text;

namespace LlmSecOps.Redis;

/// <summary>
/// One command argument, written to the wire as a RESP bulk string without intermediate strings:
/// text is encoded as UTF-8 straight into the output buffer, numbers are formatted in place.
/// Converts implicitly from <see cref="string"/>, <see cref="long"/>, <see cref="int"/>, <see cref="double"/>,
/// <c>byte[]</c> and <see cref="ReadOnlyMemory{T}"/> of bytes.
/// </summary>
public readonly struct RedisArg
{
    internal enum ArgKind : byte
    {
        Text,
        Int64,
        Double,
        Bytes,
    }

    private readonly object? _object;
    private readonly long _integer;
    private readonly double _double;

    private RedisArg(ArgKind kind, object? obj, long integer, double dbl)
    {
        Kind = kind;
        _object = obj;
        _integer = integer;
        _double = dbl;
    }

    internal ArgKind Kind { get; }

    internal string Text => (string?)_object ?? "";

    internal long Int64 => _integer;

    internal double Double => _double;

    internal ReadOnlyMemory<byte> Bytes => _object is byte[] a ? a : _object is ReadOnlyMemory<byte>[] boxed ? boxed[0] : default;

    /// <summary>A text argument (UTF-8 on the wire).</summary>
    public static implicit operator RedisArg(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(ArgKind.Text, value, 0, 0);
    }

    /// <summary>An integer argument.</summary>
    public static implicit operator RedisArg(long value) => new(ArgKind.Int64, null, value, 0);

    /// <summary>An integer argument.</summary>
    public static implicit operator RedisArg(int value) => new(ArgKind.Int64, null, value, 0);

    /// <summary>A floating-point argument (round-trip format).</summary>
    public static implicit operator RedisArg(double value) => new(ArgKind.Double, null, 0, value);

    /// <summary>A binary argument.</summary>
    public static implicit operator RedisArg(byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(ArgKind.Bytes, value, 0, 0);
    }

    /// <summary>A binary argument.</summary>
    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(ArgKind.Bytes, new[] { value }, 0, 0);

    /// <summary>Named alternative to the implicit conversion from <see cref="string"/>.</summary>
    public static RedisArg FromString(string value) => value;

    /// <summary>Named alternative to the implicit conversion from <see cref="long"/>.</summary>
    public static RedisArg FromInt64(long value) => value;

    /// <summary>Named alternative to the implicit conversion from <see cref="double"/>.</summary>
    public static RedisArg FromDouble(double value) => value;

    /// <summary>Named alternative to the implicit conversion from bytes.</summary>
    public static RedisArg FromBytes(ReadOnlyMemory<byte> value) => value;

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        ArgKind.Text => Text,
        ArgKind.Int64 => _integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ArgKind.Double => _double.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => Encoding.UTF8.GetString(Bytes.Span),
    };
}

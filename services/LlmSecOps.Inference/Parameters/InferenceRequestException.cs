namespace LlmSecOps.Inference.Parameters;

/// <summary>What was wrong with a request; the gateway maps each to a status and the API's own error format.</summary>
public enum RequestErrorKind
{
    /// <summary>Not valid JSON (syntax), empty, or not an object at the top. 400.</summary>
    MalformedJson,

    /// <summary>The body is not valid UTF-8 (RFC 8259 §8.1 requires UTF-8), or starts with a byte-order mark. 400.</summary>
    InvalidUtf8,

    /// <summary>An object names the same key twice (RFC 8259 §4: behaviour is unpredictable; parser differentials). 400.</summary>
    DuplicateKey,

    /// <summary>Nesting deeper than the limit. 400.</summary>
    TooDeep,

    /// <summary>The body, an array, an object or a string exceeds a size/shape limit. 413 for the body, else 400.</summary>
    TooLarge,

    /// <summary>A parameter has the wrong JSON type (e.g. a string where an integer is expected). 400.</summary>
    InvalidType,

    /// <summary>A parameter has a value outside what the API accepts (negative, zero, fractional...). 400.</summary>
    InvalidValue,

    /// <summary>A required parameter (e.g. <c>model</c>) is missing. 400.</summary>
    Missing,

    /// <summary>The tier policy does not allow this parameter at all (e.g. <c>raw</c>, <c>template</c>). 400.</summary>
    NotAllowed,

    /// <summary>The tier policy caps this parameter and the request is above the cap. 400.</summary>
    AboveLimit,

    /// <summary>
    /// A key spelled differently from a parameter the gateway checks (<c>"Model"</c>, <c>"OPTIONS"</c>,
    /// <c>"meſſages"</c>) that a case-insensitive upstream parser would still bind to it. 400.
    /// </summary>
    AmbiguousKey,
}

/// <summary>
/// A request the gateway must refuse before it reaches the upstream. <see cref="Exception.Message"/> is safe to show
/// the client: it names the parameter and the rule, never echoes request content.
/// </summary>
public sealed class InferenceRequestException : Exception
{
    public InferenceRequestException(RequestErrorKind kind, string? parameter, string message)
        : base(message)
    {
        Kind = kind;
        Parameter = parameter;
    }

    public InferenceRequestException()
        : this(RequestErrorKind.MalformedJson, null, "Bad request.")
    {
    }

    public InferenceRequestException(string message)
        : this(RequestErrorKind.MalformedJson, null, message)
    {
    }

    public InferenceRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Kind = RequestErrorKind.MalformedJson;
    }

    /// <summary>The kind of problem.</summary>
    public RequestErrorKind Kind { get; }

    /// <summary>The parameter at fault (JSON path-ish, e.g. <c>options.num_predict</c>), when there is one.</summary>
    public string? Parameter { get; }

    /// <summary>The HTTP status the gateway should answer with.</summary>
    public int StatusCode => Kind == RequestErrorKind.TooLarge && Parameter is null ? 413 : 400;

    /// <summary>A short machine code for OpenAI-format error bodies (<c>error.code</c>).</summary>
    public string Code => Kind switch
    {
        RequestErrorKind.MalformedJson => "invalid_json",
        RequestErrorKind.InvalidUtf8 => "invalid_encoding",
        RequestErrorKind.DuplicateKey => "duplicate_key",
        RequestErrorKind.TooDeep => "too_deep",
        RequestErrorKind.TooLarge => "too_large",
        RequestErrorKind.InvalidType => "invalid_type",
        RequestErrorKind.InvalidValue => "invalid_value",
        RequestErrorKind.Missing => "missing_parameter",
        RequestErrorKind.NotAllowed => "parameter_not_allowed",
        RequestErrorKind.AboveLimit => "parameter_above_limit",
        RequestErrorKind.AmbiguousKey => "ambiguous_key",
        _ => "invalid_request",
    };
}

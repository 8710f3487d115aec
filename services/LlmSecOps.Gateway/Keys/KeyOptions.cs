using System.Text;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Keys;

/// <summary>
/// Key storage and authentication settings (section <c>Keys</c>). Peppers are secrets: give them through the
/// environment or a secret store (<c>Keys__Pepper</c>, or <c>Keys__Peppers__1</c>, <c>Keys__Peppers__2</c>... with
/// <c>Keys__CurrentPepperVersion</c>). Without a pepper the gateway refuses to start.
/// </summary>
public sealed class KeyOptions
{
    /// <summary>Minimum pepper length in bytes (UTF-8 of the configured string).</summary>
    public const int MinimumPepperBytes = 32;

    /// <summary>Shorthand for pepper version 1. Default: none.</summary>
    public string? Pepper { get; set; }

    /// <summary>Peppers by version (rotation: add a new version, make it current; old keys keep verifying). Default: none.</summary>
    public Dictionary<int, string> Peppers { get; set; } = [];

    /// <summary>The version new keys are hashed with. Default: the highest configured version.</summary>
    public int? CurrentPepperVersion { get; set; }

    /// <summary>How long a replica trusts a key's state from its in-process cache. Default: 10 seconds.
    /// Revocations are pushed over Redis pub/sub, so this only bounds how stale a replica can be when a message is lost.</summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Lifetime of a key's entry in the Redis status cache. Default: 5 minutes.</summary>
    public TimeSpan RedisStatusTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often a replica re-reads key changes from Postgres regardless of Redis (belt and braces); 0 disables. Default: 30 seconds.</summary>
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Upper bound of keys held in the in-process cache. Default: 100,000.</summary>
    public int CacheCapacity { get; set; } = 100_000;

    /// <summary>The peppers in effect: <see cref="Peppers"/> plus <see cref="Pepper"/> as version 1.</summary>
    public IReadOnlyDictionary<int, string> EffectivePeppers()
    {
        var all = new Dictionary<int, string>(Peppers);
        if (!string.IsNullOrEmpty(Pepper) && !all.ContainsKey(1))
        {
            all[1] = Pepper;
        }

        return all;
    }
}

/// <summary>Reports every problem of <see cref="KeyOptions"/> at once, each with how to fix it.</summary>
public sealed class KeyOptionsValidator : IValidateOptions<KeyOptions>
{
    public ValidateOptionsResult Validate(string? name, KeyOptions options)
    {
        var errors = new List<string>();
        var peppers = options.EffectivePeppers();
        if (peppers.Count == 0)
        {
            errors.Add("No key pepper is configured: the gateway refuses to store or verify keys without one. Generate one with " +
                "`openssl rand -base64 32` and set it as Keys__Pepper (or Keys__Peppers__1 with Keys__CurrentPepperVersion=1), from a secret store, never a file in git.");
        }

        foreach (var (version, pepper) in peppers)
        {
            if (version <= 0)
            {
                errors.Add($"Keys:Peppers:{version}: pepper versions are positive integers.");
            }

            if (Encoding.UTF8.GetByteCount(pepper ?? "") < KeyOptions.MinimumPepperBytes)
            {
                errors.Add($"Keys pepper version {version} is shorter than {KeyOptions.MinimumPepperBytes} bytes; generate one with `openssl rand -base64 32`.");
            }
        }

        if (options.CurrentPepperVersion is { } current && !peppers.ContainsKey(current))
        {
            errors.Add($"Keys:CurrentPepperVersion is {current} but no pepper has that version; set Keys__Peppers__{current}.");
        }

        if (options.CacheTtl <= TimeSpan.Zero || options.CacheTtl > TimeSpan.FromMinutes(10))
        {
            errors.Add("Keys:CacheTtl must be between 00:00:00.001 and 00:10:00.");
        }

        if (options.RedisStatusTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add("Keys:RedisStatusTtl must be at least 1 second.");
        }

        if (options.ResyncInterval < TimeSpan.Zero)
        {
            errors.Add("Keys:ResyncInterval must not be negative (0 disables the periodic resync).");
        }

        if (options.CacheCapacity < 1)
        {
            errors.Add("Keys:CacheCapacity must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

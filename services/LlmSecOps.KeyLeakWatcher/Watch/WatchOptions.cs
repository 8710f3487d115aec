using LlmSecOps.KeyLeakWatcher.Sources;
using Microsoft.Extensions.Options;

namespace LlmSecOps.KeyLeakWatcher.Watch;

/// <summary>Sources polled on a schedule (section <c>Watch</c>).</summary>
public sealed class WatchOptions
{
    /// <summary>Time between the end of one round and the start of the next. Default: 5 minutes.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The sources. Default: none (the watcher then only serves the GitHub partner endpoint).</summary>
    public List<WatchSourceOptions> Sources { get; set; } = [];

    /// <summary>Where remote git repositories are mirrored. Default: a folder under the temp directory.</summary>
    public string? MirrorDirectory { get; set; }
}

/// <summary>One watched source.</summary>
public sealed class WatchSourceOptions
{
    /// <summary><c>git</c> (path or clone URL), <c>directory</c>, <c>npm</c> (package name: every published version) or <c>image</c> (folder of image tarballs).</summary>
    public string Kind { get; set; } = string.Empty;

    /// <summary>What to watch.</summary>
    public string Target { get; set; } = string.Empty;

    /// <summary>Stable name under which progress is remembered. Default: <c>{kind}:{target}</c>.</summary>
    public string? Name { get; set; }

    /// <summary>The id progress is stored under.</summary>
    public string Id => Name ?? $"{Kind}:{Target}";
}

/// <summary>Reports every problem with <see cref="WatchOptions"/> at once.</summary>
public sealed class WatchOptionsValidator : IValidateOptions<WatchOptions>
{
    public ValidateOptionsResult Validate(string? name, WatchOptions options)
    {
        var errors = new List<string>();
        if (options.Interval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Watch:Interval {options.Interval} is shorter than one second.");
        }

        for (var i = 0; i < options.Sources.Count; i++)
        {
            var source = options.Sources[i];
            if (!ScanSources.Kinds.Contains(source.Kind))
            {
                errors.Add($"Watch:Sources:{i}:Kind '{source.Kind}' is not one of {string.Join(", ", ScanSources.Kinds)}.");
            }

            if (string.IsNullOrWhiteSpace(source.Target))
            {
                errors.Add($"Watch:Sources:{i}:Target is empty.");
            }
        }

        foreach (var duplicate in options.Sources.GroupBy(s => s.Id).Where(g => g.Count() > 1))
        {
            errors.Add($"Watch:Sources has '{duplicate.Key}' more than once; give each a distinct Name.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

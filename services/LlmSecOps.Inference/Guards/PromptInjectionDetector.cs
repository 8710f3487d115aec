using System.Text;
using System.Text.RegularExpressions;

namespace LlmSecOps.Inference.Guards;

/// <summary>The outcome of <see cref="PromptInjectionDetector.Score"/>.</summary>
/// <param name="Score">Sum of the weights of the signals found, capped at 1.</param>
/// <param name="Signals">Names of the signals found (for the flag's reason; never the text).</param>
public sealed record InjectionVerdict(double Score, IReadOnlyList<string> Signals)
{
    /// <summary>True when the score reaches the threshold it was computed with.</summary>
    public bool Flagged { get; init; }
}

/// <summary>
/// A heuristic for direct prompt injection in user input: phrases that try to override instructions, extract the
/// system prompt, switch the model into an "unrestricted" persona, or smuggle chat-template control tokens. The text
/// is normalised first (case, zero-width characters, common Cyrillic/Greek look-alikes, leetspeak digits,
/// whitespace) so trivial obfuscation does not hide a phrase. It is a heuristic: it catches the common phrasings
/// (measured in docs/guards.md), not a determined attacker, which is why its default action is to FLAG.
/// </summary>
public sealed class PromptInjectionDetector
{
    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    private static readonly (string Name, double Weight, Regex Pattern)[] s_signals =
    [
        ("override_instructions", 0.8, new Regex(
            @"\b(ignore|disregard|forget|override|bypass|skip|drop|abandon|discard)\b( \w+){0,3} (all |any |the |your |my |every |of )*(previous|prior|above|earlier|preceding|initial|original|system|old|existing|given) (\w+ ){0,2}(instructions?|rules|prompts?|directions|directives|guidelines|guardrails|commands|constraints|context|programming)\b", Options)),
        ("override_instructions", 0.8, new Regex(
            @"\b(ignore|disregard|forget) (everything|all of that|all that|what) (you were|you've been|you have been|i|we) (told|said|instructed|given)", Options)),
        ("reveal_system_prompt", 0.7, new Regex(
            @"\b(reveal|print|show|repeat|output|display|leak|dump|tell me|give me|write out|recite|what (is|are|was|were)) (me )?(your|the|all|its) (\w+ ){0,2}(system prompt|system message|initial (prompt|instructions)|hidden (prompt|instructions)|original (prompt|instructions)|instructions above|developer (prompt|message)|pre-?prompt)", Options)),
        ("reveal_system_prompt", 0.6, new Regex(
            @"\b(repeat|print|output) (the |all )?(text|words|everything) (above|before) (this|the first)", Options)),
        ("persona_switch", 0.6, new Regex(
            @"\b(you are now|from now on,? you are|from now on,? you will|you will now act as|act as|pretend (you are|to be)|roleplay as|behave as|respond as) (\w+ ){0,4}(dan|unrestricted|unfiltered|uncensored|jailbroken|evil|without (any )?(restrictions|limits|rules|filters)|developer mode|god mode|an ai with no)", Options)),
        ("jailbreak_terms", 0.5, new Regex(
            @"\b(do anything now|developer mode (enabled|activated|on)|dan mode|jailbreak mode|god mode (enabled|on|activated)|stay in character|unlock(ed)? mode)\b", Options)),
        ("no_restrictions", 0.4, new Regex(
            @"\b(without|no|free of|free from|ignore) (any |all |your )?(ethical|moral|safety|content)? ?(restrictions|filters|limitations|censorship|guidelines|policies|safeguards)\b", Options)),
        ("control_tokens", 0.6, new Regex(
            @"(<\|im_start\|>|<\|im_end\|>|<\|system\|>|<\|endoftext\|>|<\|start_header_id\|>|\[/?inst\]|<<sys>>|<</sys>>|^ ?#{2,} ?(system|instruction)s? ?:|\bsystem ?: ?you are\b|</?system>)", Options | RegexOptions.Multiline)),
        ("new_instructions", 0.5, new Regex(
            @"\b(new|updated|real|actual|revised|secret) (system )?(instructions|rules|directive|task)s? ?(:|are|follow)|\b(system|admin|developer|root) (override|command|mode)\b", Options)),
        ("jailbreak_word", 0.25, new Regex(@"\bjailbr(eak|oken)\b", Options)),
    ];

    /// <summary>Signals whose combined weight reaches this flag the input. Default 0.5.</summary>
    public double Threshold { get; init; } = 0.5;

    /// <summary>Scores <paramref name="text"/>.</summary>
    public InjectionVerdict Score(ReadOnlySpan<char> text)
    {
        var normalised = Normalise(text);
        var score = 0.0;
        var signals = new List<string>(2);
        foreach (var (name, weight, pattern) in s_signals)
        {
            if (signals.Contains(name))
            {
                continue;
            }

            if (pattern.IsMatch(normalised))
            {
                signals.Add(name);
                score += weight;
            }
        }

        score = Math.Min(1.0, score);
        return new InjectionVerdict(score, signals) { Flagged = score >= Threshold };
    }

    /// <summary>Lower-cases, removes zero-width and format characters, folds look-alikes and leetspeak, collapses whitespace.</summary>
    internal static string Normalise(ReadOnlySpan<char> text)
    {
        var builder = new StringBuilder(text.Length);
        var space = false;
        foreach (var raw in text)
        {
            if (raw is '\u200B' or '\u200C' or '\u200D' or '\u2060' or '\uFEFF' or '\u00AD')
            {
                continue;
            }

            var c = char.ToLowerInvariant(raw);
            c = c switch
            {
                'а' => 'a', 'е' => 'e', 'о' => 'o', 'р' => 'p', 'с' => 'c', 'у' => 'y', 'х' => 'x', 'і' => 'i', 'ј' => 'j',
                'ѕ' => 's', 'ԁ' => 'd', 'ο' => 'o', 'α' => 'a', 'ε' => 'e', 'ι' => 'i', 'κ' => 'k', 'ν' => 'v', 'τ' => 't',
                '0' => 'o', '1' => 'i', '3' => 'e', '4' => 'a', '5' => 's', '7' => 't', '@' => 'a', '$' => 's',
                '’' or '‘' => '\'',
                _ => c,
            };

            if (char.IsWhiteSpace(c) || c is '*' or '~' or '`')
            {
                if (c == '\n')
                {
                    builder.Append('\n');
                    space = true;
                    continue;
                }

                if (!space)
                {
                    builder.Append(' ');
                    space = true;
                }

                continue;
            }

            space = false;
            builder.Append(c);
        }

        return builder.ToString();
    }
}

using LlmSecOps.AnomalyScorer.Decisions;
using LlmSecOps.AnomalyScorer.Events;
using LlmSecOps.AnomalyScorer.Scoring;
using LlmSecOps.AnomalyScorer.Snapshots;
using LlmSecOps.ServiceDefaults.Listeners;

namespace LlmSecOps.AnomalyScorer.Management;

/// <summary>
/// The scorer's management API on its management listener (8082, internal): per-key score and reasons, the keys
/// scoring worst, recent decisions, failed-authentication traffic by claimed key id, and counters.
/// Errors are <c>{"error": "..."}</c>.
/// </summary>
public static class ManagementEndpoints
{
    /// <summary>Maps the endpoints under <c>/scorer</c>.</summary>
    public static RouteGroupBuilder MapScorerManagement(this WebApplication app)
    {
        var group = app.MapGroup("/scorer").RequireListener(AnomalyScorerApp.Management.Name);

        group.MapGet("/keys/{keyId}", (string keyId, Scorer scorer) =>
        {
            if (!IsValidId(keyId))
            {
                return Results.BadRequest(new { error = "keyId must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'." });
            }

            return scorer.GetKey(keyId) is { } view ? Results.Ok(view) : Results.NotFound(new { error = $"No events scored for key {keyId}." });
        });

        group.MapGet("/keys", (int? top, Scorer scorer) =>
        {
            var n = top ?? 20;
            return n is < 1 or > 500
                ? Results.BadRequest(new { error = "top must be between 1 and 500." })
                : Results.Ok(scorer.TopKeys(n));
        });

        group.MapGet("/decisions", (Scorer scorer) => Results.Ok(scorer.RecentDecisions()));

        group.MapGet("/claimed", (int? top, Scorer scorer) =>
        {
            var n = top ?? 50;
            return n is < 1 or > 1000
                ? Results.BadRequest(new { error = "top must be between 1 and 1000." })
                : Results.Ok(scorer.ClaimedKeys(n));
        });

        group.MapGet("/status", (Scorer scorer, EventConsumer consumer, DecisionDispatcher dispatcher, SnapshotService snapshots) => Results.Ok(new
        {
            keys = scorer.KeyCount,
            populationWarm = scorer.PopulationWarm,
            restoredKeys = snapshots.RestoredKeys,
            snapshotKeysSaved = snapshots.SavedKeys,
            lastSnapshotAt = snapshots.LastSnapshotAt,
            keysChangedSinceSnapshot = scorer.ChangedKeys,
            scoredEvents = scorer.ScoredEvents,
            unauthenticatedEvents = scorer.UnauthenticatedEvents,
            consumerConnected = consumer.Connected,
            consumed = consumer.Consumed,
            malformed = consumer.Malformed,
            decisionsSent = dispatcher.Sent,
            decisionsFailed = dispatcher.Failed,
        }));

        return group;
    }

    private static bool IsValidId(string id)
    {
        if (id.Length is 0 or > 64)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        return true;
    }
}

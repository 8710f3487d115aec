using LlmSecOps.Gateway.Keys;
using LlmSecOps.Redis;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LlmSecOps.Gateway.Database;

/// <summary>Readiness: Postgres answers <c>SELECT 1</c>.</summary>
internal sealed class PostgresHealthCheck(GatewayDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = await database.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("Postgres is unreachable.", ex);
        }
    }
}

/// <summary>Readiness: the Redis connection used for key status and revocations is up (degraded, not down, when not).</summary>
internal sealed class RedisHealthCheck(RedisKeyStatusBus bus) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var redis = await bus.ConnectionAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return redis.State == RedisConnectionState.Connected
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Degraded("Redis is reconnecting; revocations are caught up from Postgres once it is back.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Degraded("Redis is unreachable.", ex);
        }
    }
}

using Dapper;
using LlmSecOps.Gateway.Admin;
using LlmSecOps.Gateway.Audit;
using LlmSecOps.Gateway.Database;
using LlmSecOps.Gateway.Validation;
using Microsoft.Extensions.Options;

namespace LlmSecOps.Gateway.Tenants;

/// <summary>Tier and approved-model routes of the admin API.</summary>
public static class TierEndpoints
{
    /// <summary>Largest tier limit accepted.</summary>
    public const int MaxLimit = 100_000_000;

    /// <summary>Maps the routes onto the authenticated admin group.</summary>
    public static RouteGroupBuilder MapTierEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapPut("/tiers/{name}", PutTierAsync).AllowRoles(AdminRole.Operator);
        admin.MapGet("/tiers", ListTiersAsync).AllowRoles(AdminRole.Auditor);
        admin.MapGet("/tiers/{name}", GetTierAsync).AllowRoles(AdminRole.Auditor);
        admin.MapPut("/models/{**name}", ApproveModelAsync).AllowRoles(AdminRole.Operator);
        admin.MapDelete("/models/{**name}", WithdrawModelAsync).AllowRoles(AdminRole.Operator);
        admin.MapGet("/models", ListModelsAsync).AllowRoles(AdminRole.Auditor);
        return admin;
    }

    private const string TierColumns =
        """
        name, allowed_models, default_max_tokens, max_max_tokens, max_tokens_over_cap, requests_per_minute, tokens_per_minute, concurrency,
        max_n, max_keep_alive_seconds, max_num_ctx, allow_hardware_options, allow_raw, allow_template_override, allow_system_override,
        max_images, max_image_bytes, allow_remote_image_urls, allow_logprobs, max_top_logprobs, allow_logit_bias, max_logit_bias_entries, updated_at
        """;

    private const string SelectTier = "SELECT " + TierColumns + " FROM tiers";

    private static async Task<IResult> PutTierAsync(string name, HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<TierRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        problems.Check(TenantRules.IsTierName(name), "name", "Tier names are 1-63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit.");
        var models = new List<string>();
        if (request!.AllowedModels is null || request.AllowedModels.Count == 0)
        {
            problems.Add("allowedModels", "List the models the tier may use (canonical name:tag), or [\"*\"] for every approved model.");
        }
        else if (request.AllowedModels.Count > 1000)
        {
            problems.Add("allowedModels", "At most 1000 entries.");
        }
        else
        {
            for (var i = 0; i < request.AllowedModels.Count; i++)
            {
                var entry = request.AllowedModels[i];
                var canonical = entry == "*" ? "*" : TenantRules.CanonicalModel(entry);
                if (canonical is null)
                {
                    problems.Add($"allowedModels[{i}]", $"'{entry}' is not a model name (name:tag, lowercase letters, digits, '.', '-', '_', '/').");
                }
                else if (!models.Contains(canonical))
                {
                    models.Add(canonical);
                }
            }
        }

        CheckLimit(problems, request.DefaultMaxTokens, "defaultMaxTokens");
        CheckLimit(problems, request.MaxMaxTokens, "maxMaxTokens");
        CheckLimit(problems, request.RequestsPerMinute, "requestsPerMinute");
        CheckLimit(problems, request.TokensPerMinute, "tokensPerMinute");
        CheckLimit(problems, request.Concurrency, "concurrency");
        problems.Check(request.DefaultMaxTokens is null || request.MaxMaxTokens is null || request.DefaultMaxTokens <= request.MaxMaxTokens,
            "defaultMaxTokens", "The default max_tokens cannot exceed the maximum.");
        problems.Check(request.MaxTokensOverCap is null or "clamp" or "reject", "maxTokensOverCap",
            "Must be 'clamp' (lower max_tokens to the cap and forward) or 'reject' (answer 400); default 'clamp'.");
        var parameters = TierParameterRules.Resolve(request.Parameters, problems);
        if (!problems.IsEmpty)
        {
            return problems.ToResult();
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var tier = await connection.QuerySingleAsync<TierRow>(
                $"""
                INSERT INTO tiers (name, allowed_models, default_max_tokens, max_max_tokens, max_tokens_over_cap, requests_per_minute, tokens_per_minute,
                    concurrency, max_n, max_keep_alive_seconds, max_num_ctx, allow_hardware_options, allow_raw, allow_template_override,
                    allow_system_override, max_images, max_image_bytes, allow_remote_image_urls, allow_logprobs, max_top_logprobs, allow_logit_bias,
                    max_logit_bias_entries)
                VALUES (@name, @models, @defaultMaxTokens, @maxMaxTokens, @overCap, @requestsPerMinute, @tokensPerMinute, @concurrency, @MaxN,
                    @MaxKeepAliveSeconds, @MaxNumCtx, @AllowHardwareOptions, @AllowRaw, @AllowTemplateOverride, @AllowSystemOverride, @MaxImages,
                    @MaxImageBytes, @AllowRemoteImageUrls, @AllowLogprobs, @MaxTopLogprobs, @AllowLogitBias, @MaxLogitBiasEntries)
                ON CONFLICT (name) DO UPDATE SET allowed_models = excluded.allowed_models, default_max_tokens = excluded.default_max_tokens,
                    max_max_tokens = excluded.max_max_tokens, max_tokens_over_cap = excluded.max_tokens_over_cap,
                    requests_per_minute = excluded.requests_per_minute, tokens_per_minute = excluded.tokens_per_minute,
                    concurrency = excluded.concurrency, max_n = excluded.max_n, max_keep_alive_seconds = excluded.max_keep_alive_seconds,
                    max_num_ctx = excluded.max_num_ctx, allow_hardware_options = excluded.allow_hardware_options, allow_raw = excluded.allow_raw,
                    allow_template_override = excluded.allow_template_override, allow_system_override = excluded.allow_system_override,
                    max_images = excluded.max_images, max_image_bytes = excluded.max_image_bytes,
                    allow_remote_image_urls = excluded.allow_remote_image_urls, allow_logprobs = excluded.allow_logprobs,
                    max_top_logprobs = excluded.max_top_logprobs, allow_logit_bias = excluded.allow_logit_bias,
                    max_logit_bias_entries = excluded.max_logit_bias_entries, updated_at = now()
                RETURNING {TierColumns}
                """,
                new
                {
                    name, models = models.ToArray(), request.DefaultMaxTokens, request.MaxMaxTokens, overCap = request.MaxTokensOverCap ?? "clamp",
                    request.RequestsPerMinute, request.TokensPerMinute, request.Concurrency, parameters.MaxN, parameters.MaxKeepAliveSeconds,
                    parameters.MaxNumCtx, parameters.AllowHardwareOptions, parameters.AllowRaw, parameters.AllowTemplateOverride,
                    parameters.AllowSystemOverride, parameters.MaxImages, parameters.MaxImageBytes, parameters.AllowRemoteImageUrls,
                    parameters.AllowLogprobs, parameters.MaxTopLogprobs, parameters.AllowLogitBias, parameters.MaxLogitBiasEntries,
                }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "tier.put", name, tier.ToResponse());
            return Results.Ok(tier.ToResponse());
        }, ct);
    }

    private static void CheckLimit(Problems problems, int? value, string field) =>
        problems.Check(value is >= 1 and <= MaxLimit, field, $"Required, between 1 and {MaxLimit}.");

    private static async Task<IResult> ListTiersAsync(GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<TierRow>(new CommandDefinition($"{SelectTier} ORDER BY name", cancellationToken: ct));
        return Results.Ok(rows.Select(r => r.ToResponse()));
    }

    private static async Task<IResult> GetTierAsync(string name, GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var row = TenantRules.IsTierName(name)
            ? await connection.QuerySingleOrDefaultAsync<TierRow>(new CommandDefinition($"{SelectTier} WHERE name = @name", new { name }, cancellationToken: ct))
            : null;
        return row is null ? AdminResults.NotFound("Tier", name) : Results.Ok(row.ToResponse());
    }

    private static async Task<IResult> ApproveModelAsync(string name, HttpContext http, GatewayDatabase db, IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var (request, error) = await AdminJson.ReadAsync<ApproveModelRequest>(http.Request, options.Value.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var problems = new Problems();
        var canonical = TenantRules.CanonicalModel(name);
        problems.Check(canonical is not null, "name", $"'{name}' is not a model name (name:tag; ':latest' is implied).");
        problems.Check(TenantRules.IsDigest(request!.Digest), "digest", "Pin the model to its digest: 'sha256:' followed by 64 lowercase hex digits (see `ollama list` or /api/tags).");
        if (!problems.IsEmpty)
        {
            return problems.ToResult();
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var model = await connection.QuerySingleAsync<ModelRow>(
                """
                INSERT INTO models (name, digest, approved_by) VALUES (@canonical, @digest, @actor)
                ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, approved_by = excluded.approved_by, approved_at = now()
                RETURNING name, digest, approved_by, approved_at
                """,
                new { canonical, digest = request.Digest, actor = principal.Actor }, transaction);
            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "model.approve", canonical!, new { request.Digest });
            return Results.Ok(model.ToResponse());
        }, ct);
    }

    private static async Task<IResult> WithdrawModelAsync(string name, HttpContext http, GatewayDatabase db, CancellationToken ct)
    {
        var canonical = TenantRules.CanonicalModel(name);
        if (canonical is null)
        {
            return AdminResults.NotFound("Model", name);
        }

        var principal = http.Principal();
        return await db.InTransactionAsync<IResult>(async (connection, transaction) =>
        {
            var deleted = await connection.ExecuteAsync("DELETE FROM models WHERE name = @canonical", new { canonical }, transaction);
            if (deleted == 0)
            {
                return AdminResults.NotFound("Model", canonical);
            }

            await AuditChain.AppendAsync(connection, transaction, principal.Actor, "model.withdraw", canonical, null);
            return Results.NoContent();
        }, ct);
    }

    private static async Task<IResult> ListModelsAsync(GatewayDatabase db, CancellationToken ct)
    {
        await using var connection = await db.OpenAsync(ct);
        var rows = await connection.QueryAsync<ModelRow>(new CommandDefinition("SELECT name, digest, approved_by, approved_at FROM models ORDER BY name", cancellationToken: ct));
        return Results.Ok(rows.Select(r => r.ToResponse()));
    }

    internal sealed class TierRow : TierColumns
    {
        public string Name { get; set; } = "";
        public DateTime UpdatedAt { get; set; }

        public TierResponse ToResponse() => new(Name, AllowedModels, DefaultMaxTokens, MaxMaxTokens, MaxTokensOverCap, RequestsPerMinute, TokensPerMinute,
            Concurrency, new TierParametersResponse(MaxN, MaxKeepAliveSeconds, MaxNumCtx, AllowHardwareOptions, AllowRaw, AllowTemplateOverride,
                AllowSystemOverride, MaxImages, MaxImageBytes, AllowRemoteImageUrls, AllowLogprobs, MaxTopLogprobs, AllowLogitBias, MaxLogitBiasEntries),
            DateTime.SpecifyKind(UpdatedAt, DateTimeKind.Utc));
    }

    internal sealed class ModelRow
    {
        public string Name { get; set; } = "";
        public string Digest { get; set; } = "";
        public string ApprovedBy { get; set; } = "";
        public DateTime ApprovedAt { get; set; }

        public ModelResponse ToResponse() => new(Name, Digest, ApprovedBy, DateTime.SpecifyKind(ApprovedAt, DateTimeKind.Utc));
    }
}

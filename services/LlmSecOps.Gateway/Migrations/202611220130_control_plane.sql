-- Control plane schema (gateway). Postgres is the source of truth for key state; Redis only caches it.
-- Applied by LlmSecOps.Data's MigrationRunner with search_path = gateway.

CREATE TABLE tiers (
    name                text PRIMARY KEY,
    allowed_models      text[] NOT NULL DEFAULT ARRAY['*'],   -- '*' = every approved model
    default_max_tokens  integer NOT NULL,
    max_max_tokens      integer NOT NULL,
    requests_per_minute integer NOT NULL,
    tokens_per_minute   integer NOT NULL,
    concurrency         integer NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (default_max_tokens > 0 AND default_max_tokens <= max_max_tokens)
);

-- Out of the box: modest limits, every approved model (ARCHITECTURE.md).
INSERT INTO tiers (name, allowed_models, default_max_tokens, max_max_tokens, requests_per_minute, tokens_per_minute, concurrency)
VALUES ('default', ARRAY['*'], 512, 2048, 60, 20000, 4);

CREATE TABLE tenants (
    id                      text PRIMARY KEY,
    name                    text NOT NULL,
    tier                    text NOT NULL REFERENCES tiers(name),
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    logging_policy          text NOT NULL DEFAULT 'metadata' CHECK (logging_policy IN ('none', 'metadata', 'redacted')),
    retention_days          integer NOT NULL DEFAULT 30,
    guard_policy            text NOT NULL DEFAULT 'flag' CHECK (guard_policy IN ('flag', 'block')),
    webhook_url             text NULL,
    webhook_secret_nonce    text NULL,   -- the signing secret is derived from the pepper and this nonce; never stored
    webhook_pepper_version  integer NULL,
    daily_token_budget      bigint NULL,
    monthly_token_budget    bigint NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_updated_at ON tenants (updated_at);

CREATE TABLE models (
    name        text PRIMARY KEY,          -- canonical name:tag
    digest      text NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now()
);

-- Keys: the public id and HMAC-SHA256(pepper_v, SHA-256(full key)); never the key, never its plain SHA-256.
CREATE TABLE keys (
    id                   text PRIMARY KEY CHECK (id ~ '^[0-9A-Za-z]{12}$'),
    tenant_id            text NOT NULL REFERENCES tenants(id),
    name                 text NULL,
    env                  text NOT NULL CHECK (env IN ('live', 'test')),
    scopes               text[] NOT NULL,
    key_hash             bytea NOT NULL CHECK (length(key_hash) = 32),
    pepper_version       integer NOT NULL,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    created_by           text NOT NULL,
    expires_at           timestamptz NULL,
    rotated_from         text NULL,
    rotated_to           text NULL,
    revoked_at           timestamptz NULL,
    revoked_by           text NULL,
    revoke_reason        text NULL,
    revoke_source        text NULL,
    revoke_evidence      text NULL,
    reinstated_at        timestamptz NULL,
    reinstated_by        text NULL,
    daily_token_budget   bigint NULL,
    monthly_token_budget bigint NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX keys_key_hash ON keys (key_hash);
CREATE INDEX keys_tenant ON keys (tenant_id);
CREATE INDEX keys_updated_at ON keys (updated_at);

-- Admin/service bearer tokens: SHA-256 of the token (tokens are 256-bit random, so a plain hash suffices).
CREATE TABLE admin_tokens (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor', 'service')),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    revoked_at  timestamptz NULL
);

CREATE TABLE incidents (
    id          text PRIMARY KEY,
    source      text NOT NULL CHECK (source IN ('anomaly', 'leak', 'model-digest', 'manual')),
    key_id      text NULL REFERENCES keys(id),
    tenant_id   text NULL REFERENCES tenants(id),
    model       text NULL,
    summary     text NOT NULL,
    evidence    text NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NULL
);
CREATE INDEX incidents_key ON incidents (key_id);
CREATE INDEX incidents_created ON incidents (created_at DESC);

-- Owner notifications: written in the same transaction as what they announce, delivered by the dispatcher.
CREATE TABLE webhook_outbox (
    id               bigserial PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants(id),
    event_type       text NOT NULL,
    payload          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

-- The admin audit log: append-only and hash-chained (hash = SHA-256 over prev_hash and the row's fields).
CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY,
    ts          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    details     text NOT NULL,              -- JSON text, kept byte-exact (jsonb would re-serialise it)
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL
);

-- Defence in depth only: whoever owns the table can drop the trigger; the chain and the checkpoints detect that.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Settled usage: one row per data-plane request, written by the data plane once the response completed.
CREATE TABLE usage (
    request_id        text PRIMARY KEY,
    ts                timestamptz NOT NULL,
    tenant_id         text NOT NULL,
    key_id            text NULL,
    endpoint          text NOT NULL,
    model             text NULL,
    outcome           text NOT NULL,
    prompt_tokens     bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0)
);
CREATE INDEX usage_tenant_ts ON usage (tenant_id, ts);
CREATE INDEX usage_key_ts ON usage (key_id, ts);

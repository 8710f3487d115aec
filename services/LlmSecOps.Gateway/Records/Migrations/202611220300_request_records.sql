-- Request records (ARCHITECTURE.md "Records: two kinds"): one row per data-plane request, metadata by default,
-- per-tenant none | metadata | redacted. Deletable by retention and tenant erasure; not hash-chained.
CREATE TABLE request_records (
    request_id        text PRIMARY KEY,
    ts                timestamptz NOT NULL,
    tenant_id         text NULL,
    key_id            text NULL,
    claimed_key_id    text NULL,
    endpoint          text NOT NULL,
    model             text NULL,
    status            integer NOT NULL,
    outcome           text NOT NULL,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    max_tokens_effective bigint NULL,
    finish_reason     text NULL,
    stream            boolean NOT NULL DEFAULT false,
    latency_ms        bigint NOT NULL DEFAULT 0,
    client_ip         text NULL,
    country           text NULL,
    redacted_prompt   text NULL   -- only under the tenant policy 'redacted', after output-grade redaction
);
CREATE INDEX request_records_tenant_ts ON request_records (tenant_id, ts);

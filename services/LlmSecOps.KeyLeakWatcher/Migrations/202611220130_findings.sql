-- Key-leak watcher state (schema "watcher"). Keys are never stored: only their token hash and public id.
CREATE TABLE findings (
    id              bigserial PRIMARY KEY,
    token_hash      text        NOT NULL,
    key_id          text        NOT NULL,
    source_kind     text        NOT NULL,
    location        text        NOT NULL,
    context         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    times_seen      integer     NOT NULL DEFAULT 1,
    outcome         text        NOT NULL DEFAULT 'pending'
                    CHECK (outcome IN ('pending', 'acting', 'revoked', 'already_revoked', 'unknown', 'error', 'recorded')),
    control_plane_key_id text,
    tenant_id       text,
    detail          text,
    acted_at        timestamptz,
    CONSTRAINT findings_once UNIQUE (token_hash, location)
);

CREATE INDEX findings_retry ON findings (outcome) WHERE outcome IN ('pending', 'acting', 'error');
CREATE INDEX findings_by_key ON findings (token_hash);

CREATE TABLE source_state (
    source_id     text PRIMARY KEY,
    kind          text        NOT NULL,
    target        text        NOT NULL,
    state         text,
    last_scan_at  timestamptz,
    last_error    text,
    bytes_scanned bigint      NOT NULL DEFAULT 0
);

CREATE TABLE not_scanned (
    id         bigserial PRIMARY KEY,
    source_id  text        NOT NULL,
    location   text        NOT NULL,
    reason     text        NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT not_scanned_once UNIQUE (source_id, location, reason)
);

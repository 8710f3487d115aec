-- Anomaly scorer state (schema "scorer"): periodic snapshots of per-key baselines and of the population priors, so a
-- restart does not forget what the scorer learned. Keys are stored by public id only; no secrets, no request content.
CREATE TABLE key_state (
    key_id        text        PRIMARY KEY,
    tenant_id     text        NOT NULL,
    last_event_at timestamptz NOT NULL,
    state         bytea       NOT NULL,
    saved_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX key_state_last_event ON key_state (last_event_at);

CREATE TABLE population (
    id       smallint    PRIMARY KEY CHECK (id = 1),
    state    bytea       NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);

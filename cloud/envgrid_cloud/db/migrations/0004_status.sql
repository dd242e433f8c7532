-- What operators need to see of the pipeline itself: each ingest worker's counters and lag,
-- and each gateway's last reported status and counters (its queue depth among them).
CREATE TABLE ingest_workers (
    client_id       text PRIMARY KEY,
    host            text NOT NULL,
    pid             integer NOT NULL,
    received        bigint NOT NULL,
    stored          bigint NOT NULL,
    duplicates      bigint NOT NULL,
    dead_lettered   bigint NOT NULL,
    batches         bigint NOT NULL,
    lag_s           double precision NOT NULL,
    last_commit_at  timestamptz,
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateways (
    id           text PRIMARY KEY,
    state        text NOT NULL CHECK (state IN ('online', 'offline')),
    counters     jsonb NOT NULL DEFAULT '{}',
    reported_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Readings: one row per reading, identified by node, source timestamp and sequence number,
-- so a resent reading is stored once. Values are a JSON object of canonical metric names.
CREATE TABLE readings (
    node_id      text NOT NULL,
    ts           timestamptz NOT NULL,
    seq          bigint NOT NULL,
    vals         jsonb NOT NULL,
    flags        jsonb,
    historical   boolean NOT NULL DEFAULT false,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, ts, seq)
);

-- A hypertable needs the time column in every unique key, which (node_id, ts, seq) has.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');
    END IF;
END
$$;

-- Latest value of every metric of every node, kept by the ingest so "now" is one lookup.
CREATE TABLE latest_values (
    node_id  text NOT NULL,
    metric   text NOT NULL,
    ts       timestamptz NOT NULL,
    seq      bigint NOT NULL,
    value    double precision NOT NULL,
    flag     text,
    PRIMARY KEY (node_id, metric)
);

-- Messages refused by a gateway or by the ingest, kept with the reason for operators.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    fingerprint  bytea NOT NULL UNIQUE,
    source       text NOT NULL,
    topic        text NOT NULL,
    reason       text NOT NULL,
    payload      text NOT NULL,
    encoding     text NOT NULL CHECK (encoding IN ('utf-8', 'base64')),
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_stored_idx ON dead_letters (stored_at DESC);

-- Once per connection: each batch is COPYed here, then merged into readings.
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    node_id     text NOT NULL,
    ts          timestamptz NOT NULL,
    seq         bigint NOT NULL,
    vals        jsonb NOT NULL,
    flags       jsonb,
    historical  boolean NOT NULL
) ON COMMIT DELETE ROWS

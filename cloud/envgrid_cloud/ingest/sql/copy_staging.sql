COPY ingest_staging (node_id, ts, seq, vals, flags, historical) FROM STDIN (FORMAT BINARY)

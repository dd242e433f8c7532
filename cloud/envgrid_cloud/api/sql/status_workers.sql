-- Every ingest worker that ever reported; live ones reported within the last 30 seconds.
SELECT client_id, host, pid, received, stored, duplicates, dead_lettered, batches, lag_s,
       last_commit_at, started_at, updated_at, state, reason, held, reconnects,
       last_received_at,
       updated_at > now() - interval '30 seconds' AS live
FROM ingest_workers
ORDER BY client_id

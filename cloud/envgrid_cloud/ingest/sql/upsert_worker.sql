INSERT INTO ingest_workers (client_id, host, pid, received, stored, duplicates, dead_lettered,
                            batches, lag_s, last_commit_at, started_at, state, reason, held,
                            reconnects, last_received_at, updated_at)
VALUES (%(client_id)s, %(host)s, %(pid)s, %(received)s, %(stored)s, %(duplicates)s,
        %(dead_lettered)s, %(batches)s, %(lag_s)s, %(last_commit_at)s, %(started_at)s,
        %(state)s, %(reason)s, %(held)s, %(reconnects)s, %(last_received_at)s, now())
ON CONFLICT (client_id) DO UPDATE SET
    host = EXCLUDED.host, pid = EXCLUDED.pid, received = EXCLUDED.received,
    stored = EXCLUDED.stored, duplicates = EXCLUDED.duplicates,
    dead_lettered = EXCLUDED.dead_lettered, batches = EXCLUDED.batches, lag_s = EXCLUDED.lag_s,
    last_commit_at = EXCLUDED.last_commit_at, started_at = EXCLUDED.started_at,
    state = EXCLUDED.state, reason = EXCLUDED.reason, held = EXCLUDED.held,
    reconnects = EXCLUDED.reconnects, last_received_at = EXCLUDED.last_received_at,
    updated_at = now()

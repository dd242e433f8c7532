-- The pipeline figures /healthz carries: lag of live ingest workers, recent refusals, and the
-- gateways' queues (the sum of what each reported pending).
SELECT (SELECT max(lag_s) FROM ingest_workers
        WHERE updated_at > now() - interval '30 seconds') AS ingest_lag_s,
       (SELECT count(*) FROM dead_letters
        WHERE stored_at > now() - interval '1 hour') AS dead_letters_last_hour,
       (SELECT coalesce(sum((counters ->> 'pending')::bigint), 0) FROM gateways
        WHERE state = 'online') AS gateway_pending

-- Ingest workers that are not well: stalled ones, and ones that stopped reporting without
-- stopping cleanly (a worker silent for an hour is taken as retired and left out).
SELECT client_id, state, reason,
       extract(epoch FROM now() - updated_at)::double precision AS silent_s
FROM ingest_workers
WHERE (state = 'stalled' AND updated_at > now() - interval '30 seconds')
   OR (state <> 'stopped' AND updated_at <= now() - interval '30 seconds'
       AND updated_at > now() - interval '1 hour')
ORDER BY client_id

-- Each gateway's newest reported status; its counters carry the queue depth.
SELECT id, state, counters, reported_at, updated_at
FROM gateways
ORDER BY id

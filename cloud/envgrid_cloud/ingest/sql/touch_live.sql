-- When each node last sent live (not backfilled) data, for the no-data rule. Written at most
-- every few seconds per node (no-data is judged in minutes), in id order so that concurrent
-- workers lock node rows in the same order.
UPDATE nodes SET last_live_at = now()
WHERE id = ANY(%(node_ids)s) AND (last_live_at IS NULL OR last_live_at < now() - interval '5 seconds')

-- When each node last sent live (not backfilled) data, for the no-data rule. Written at most
-- every few seconds per node (no-data is judged in minutes), in id order so that concurrent
-- workers lock node rows in the same order. Now is the ingest's clock (the wall's, or the feed's
-- on a replay on the feed's clock), so that a replay decides no data as the live run did.
UPDATE nodes SET last_live_at = %(now)s
WHERE id = ANY(%(node_ids)s)
  AND (last_live_at IS NULL OR last_live_at < %(now)s - interval '5 seconds')

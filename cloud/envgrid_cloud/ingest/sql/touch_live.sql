-- When each node was last heard live (not backfilled), for the no-data rule: the latest source
-- time of its live readings in the batch (the ingest's clock for one far off it; see
-- envgrid_cloud.decision_time), never moved back. Data times, not when a batch happened to be
-- written, so that a replay of the feed dates no data as the live run did. In id order, so that
-- concurrent workers lock node rows in the same order.
UPDATE nodes n SET last_live_at = heard.at
FROM unnest(%(node_ids)s::text[], %(heard_at)s::timestamptz[]) AS heard(id, at)
WHERE n.id = heard.id
  AND (n.last_live_at IS NULL OR n.last_live_at < heard.at)

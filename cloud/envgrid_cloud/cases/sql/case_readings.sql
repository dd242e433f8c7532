-- Readings around a case: of its node, or of every node of its site when it has none; only
-- those carrying its metric when it has one. Oldest first; one more than the limit shows
-- truncation.
SELECT r.node_id, r.ts, r.seq, r.vals AS values, r.flags, r.historical
FROM readings r
JOIN nodes n ON n.id = r.node_id
WHERE n.site_id = %(site_id)s
  AND (%(node_id)s::text IS NULL OR r.node_id = %(node_id)s)
  AND (%(metric)s::text IS NULL OR r.vals ? %(metric)s)
  AND r.ts >= %(start)s AND r.ts < %(end)s
ORDER BY r.ts, r.node_id, r.seq
LIMIT %(limit)s + 1

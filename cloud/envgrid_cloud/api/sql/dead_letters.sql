-- Dead letters, newest first; "total" counts every match (the window runs before LIMIT).
SELECT id, encode(fingerprint, 'hex') AS fingerprint, source, topic, reason, payload, encoding,
       received_at, stored_at, count(*) OVER () AS total
FROM dead_letters
WHERE (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(since)s::timestamptz IS NULL OR stored_at >= %(since)s)
  -- Within an area (NULL: everywhere): refusals of the nodes at its sites.
  AND (%(area)s::text[] IS NULL
       OR node_id IN (SELECT n.id FROM nodes n JOIN sites s ON s.id = n.site_id
                      WHERE s.cell_id = ANY(%(area)s)))
ORDER BY stored_at DESC, id DESC
LIMIT %(limit)s

-- Nodes, optionally of one site, with when each last reported a value; those at sites within
-- an area (NULL: everywhere).
SELECT n.id, n.site_id, n.kind, n.report_interval_s, n.status, n.status_at, n.created_at,
       (SELECT max(lv.ts) FROM latest_values lv WHERE lv.node_id = n.id) AS last_reading_at
FROM nodes n JOIN sites s ON s.id = n.site_id
WHERE (%(site_id)s::text IS NULL OR n.site_id = %(site_id)s)
  AND (%(area)s::text[] IS NULL OR s.cell_id = ANY(%(area)s))
ORDER BY n.id

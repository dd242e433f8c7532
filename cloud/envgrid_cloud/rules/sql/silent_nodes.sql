-- Nodes that have reported live at least once, with what the no-data rule needs.
SELECT n.id, n.site_id, n.report_interval_s, n.last_live_at, n.status = 'offline' AS offline
FROM nodes AS n
WHERE n.last_live_at IS NOT NULL
ORDER BY n.id

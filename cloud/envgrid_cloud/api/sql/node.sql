-- One node, with when it last reported a value.
SELECT n.id, n.site_id, n.kind, n.report_interval_s, n.status, n.status_at, n.created_at,
       (SELECT max(lv.ts) FROM latest_values lv WHERE lv.node_id = n.id) AS last_reading_at
FROM nodes n
WHERE n.id = %(node_id)s

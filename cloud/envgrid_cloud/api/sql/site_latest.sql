-- The newest value of every metric across a site's nodes (ties: the lowest node id).
SELECT DISTINCT ON (lv.metric) lv.metric, lv.value, lv.flag, lv.ts, lv.seq, lv.node_id
FROM latest_values lv
JOIN nodes n ON n.id = lv.node_id
WHERE n.site_id = %(site_id)s
ORDER BY lv.metric, lv.ts DESC, lv.node_id

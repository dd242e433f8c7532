-- The states this batch judges with, locked in key order: concurrent workers judging the same
-- node wait for each other instead of both starting from the same old state.
SELECT site_id, rule_id, node_id, state
FROM rule_state
WHERE (site_id, rule_id, node_id) IN (
    SELECT * FROM unnest(%(site_ids)s::text[], %(rule_ids)s::text[], %(node_ids)s::text[])
)
ORDER BY site_id, rule_id, node_id
FOR UPDATE

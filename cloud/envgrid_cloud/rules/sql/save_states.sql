-- The states a batch changed, written in one statement (rows are locked already).
UPDATE rule_state AS r SET state = u.state, updated_at = now()
FROM unnest(%(site_ids)s::text[], %(rule_ids)s::text[], %(node_ids)s::text[], %(states)s::jsonb[])
    AS u (site_id, rule_id, node_id, state)
WHERE r.site_id = u.site_id AND r.rule_id = u.rule_id AND r.node_id = u.node_id

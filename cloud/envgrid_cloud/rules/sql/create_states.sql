-- Rows for rule states not seen before, so that the lock below covers them too.
INSERT INTO rule_state (site_id, rule_id, node_id, state)
SELECT k.site_id, k.rule_id, k.node_id, 'null'::jsonb
FROM unnest(%(site_ids)s::text[], %(rule_ids)s::text[], %(node_ids)s::text[])
    AS k (site_id, rule_id, node_id)
ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING

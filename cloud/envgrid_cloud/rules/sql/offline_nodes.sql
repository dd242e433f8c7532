-- Which of these nodes are offline now (their sensor rules are muted meanwhile).
SELECT id FROM nodes WHERE id = ANY(%(node_ids)s) AND status = 'offline'

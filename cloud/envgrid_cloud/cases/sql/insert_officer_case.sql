-- A problem an officer found on the spot (主动发现): a case of its own, never merged with another
-- (its rule id "officer:<case id>" is unique), raised now.
WITH RECURSIVE up AS (
    SELECT c.id, c.level, c.parent_id, 0 AS depth
    FROM sites s JOIN grid_cells c ON c.id = s.cell_id
    WHERE s.id = %(site_id)s
    UNION ALL
    SELECT c.id, c.level, c.parent_id, up.depth + 1
    FROM grid_cells c JOIN up ON c.id = up.parent_id
), n AS (
    SELECT nextval(pg_get_serial_sequence('cases', 'id')) AS id
)
INSERT INTO cases (
    id, site_id, rule_id, township_id, node_id, metric, severity, title, detail, source,
    first_seen_at, last_seen_at, raised_at, first_value, last_value, peak_value,
    ack_due_at, close_due_at, updated_at)
SELECT n.id, s.id, 'officer:' || n.id, coalesce(
           (SELECT id FROM up WHERE level = 'township' ORDER BY depth LIMIT 1), s.cell_id),
       %(node_id)s, %(metric)s, %(severity)s, %(title)s, %(detail)s, 'officer',
       %(now)s, %(now)s, %(now)s, %(value)s, %(value)s, %(value)s,
       %(ack_due_at)s, %(close_due_at)s, %(now)s
FROM sites s, n
WHERE s.id = %(site_id)s
RETURNING *

-- A breach (or several of one batch, counted together) opens the (site, rule) case, or counts
-- as repeats on the open one (the partial unique
-- index cases_one_open_idx allows one open case per site and rule, even between concurrent
-- transactions). A repeat keeps the latest value by source time (a backfilled older breach never
-- replaces a newer value), the worst value as the peak (the lowest for a rule whose detail says
-- "direction": "below", e.g. dissolved oxygen; the highest otherwise), the higher severity (its
-- deadlines applying from now if they are sooner), and forgets that the condition had cleared
-- unless the breach is older than the clearing. The township is the township above the site's cell
-- (the cell itself for a site directly under the county).
WITH RECURSIVE up AS (
    SELECT c.id, c.level, c.parent_id, 0 AS depth
    FROM sites s JOIN grid_cells c ON c.id = s.cell_id
    WHERE s.id = %(site_id)s
    UNION ALL
    SELECT c.id, c.level, c.parent_id, up.depth + 1
    FROM grid_cells c JOIN up ON c.id = up.parent_id
)
INSERT INTO cases AS c (
    site_id, rule_id, township_id, node_id, metric, severity, title, detail, source,
    first_seen_at, last_seen_at, raised_at, occurrences, first_value, last_value, peak_value,
    ack_due_at, close_due_at, updated_at)
SELECT s.id, %(rule_id)s, coalesce(
           (SELECT id FROM up WHERE level = 'township' ORDER BY depth LIMIT 1), s.cell_id),
       %(node_id)s, %(metric)s, %(severity)s, %(title)s, %(detail)s, %(source)s,
       %(first_at)s, %(at)s, %(now)s, %(occurrences)s, %(first_value)s, %(value)s, %(peak)s,
       %(ack_due_at)s, %(close_due_at)s, %(now)s
FROM sites s
WHERE s.id = %(site_id)s
ON CONFLICT (site_id, rule_id) WHERE state NOT IN ('closed', 'dismissed') DO UPDATE SET
    occurrences = c.occurrences + EXCLUDED.occurrences,
    node_id = coalesce(c.node_id, EXCLUDED.node_id),
    metric = coalesce(c.metric, EXCLUDED.metric),
    first_seen_at = least(c.first_seen_at, EXCLUDED.first_seen_at),
    first_value = CASE WHEN EXCLUDED.first_seen_at < c.first_seen_at
                       THEN coalesce(EXCLUDED.first_value, c.first_value)
                       ELSE c.first_value END,
    last_seen_at = greatest(c.last_seen_at, EXCLUDED.last_seen_at),
    last_value = CASE WHEN EXCLUDED.last_seen_at >= c.last_seen_at
                      THEN coalesce(EXCLUDED.last_value, c.last_value)
                      ELSE c.last_value END,
    peak_value = CASE WHEN c.detail ->> 'direction' = 'below'
                      THEN least(c.peak_value, EXCLUDED.peak_value)
                      ELSE greatest(c.peak_value, EXCLUDED.peak_value) END,
    severity = CASE WHEN %(rank)s > array_position(%(ranks)s::text[], c.severity)
                    THEN EXCLUDED.severity ELSE c.severity END,
    ack_due_at = CASE WHEN %(rank)s > array_position(%(ranks)s::text[], c.severity)
                      THEN least(c.ack_due_at, EXCLUDED.ack_due_at) ELSE c.ack_due_at END,
    close_due_at = CASE WHEN %(rank)s > array_position(%(ranks)s::text[], c.severity)
                        THEN least(c.close_due_at, EXCLUDED.close_due_at) ELSE c.close_due_at END,
    detail = c.detail || EXCLUDED.detail,
    cleared_at = CASE WHEN EXCLUDED.last_seen_at >= c.cleared_at THEN NULL ELSE c.cleared_at END,
    updated_at = EXCLUDED.updated_at
RETURNING c.*, (c.xmax = 0) AS inserted

-- The desk's case list: cases of an area (NULL: everywhere) matching every filter given, those
-- needing someone first: open, then overdue, then not yet acknowledged, then by severity, newest
-- raised first. With %(case_id)s: that one case, whatever the filters (the live list's lookup).
-- desk/case_list.py holds the same order and filters for changes pushed to an open list.
WITH listed AS (
    SELECT c.id, c.site_id, c.rule_id, c.township_id, c.state, c.severity, c.title, c.source,
           c.metric, c.occurrences, c.last_value, c.peak_value, c.assignee_id, c.raised_at,
           c.updated_at, c.ack_due_at, c.close_due_at, c.escalation_level,
           s.name AS site_name, s.category, s.cell_id AS site_cell_id,
           v.id AS village_id, v.name AS village_name, tw.name AS township_name,
           u.name AS assignee_name,
           c.state NOT IN ('closed', 'dismissed') AS open,
           c.state IN ('raised', 'dispatched') AS unacknowledged,
           c.state NOT IN ('closed', 'dismissed')
             AND ((c.state IN ('raised', 'dispatched') AND c.ack_due_at < now())
                  OR c.close_due_at < now()) AS overdue
    FROM cases c
    JOIN sites s ON s.id = c.site_id
    JOIN grid_cells g ON g.id = s.cell_id
    LEFT JOIN grid_cells v
           ON v.id = CASE g.level WHEN 'village' THEN g.id WHEN 'group' THEN g.parent_id END
    JOIN grid_cells tw ON tw.id = c.township_id
    LEFT JOIN users u ON u.id = c.assignee_id
    WHERE (%(case_id)s::bigint IS NULL OR c.id = %(case_id)s)
      AND (%(case_id)s::bigint IS NOT NULL OR (
           (%(states)s::text[] IS NULL OR c.state = ANY(%(states)s))
       AND (%(severities)s::text[] IS NULL OR c.severity = ANY(%(severities)s))
       AND (%(township_id)s::text IS NULL OR c.township_id = %(township_id)s)
       AND (%(village_id)s::text IS NULL OR v.id = %(village_id)s)
       AND (%(category)s::text IS NULL OR s.category = %(category)s)
       AND (%(rule_id)s::text IS NULL OR c.rule_id = %(rule_id)s)
       AND (%(assignee_id)s::text IS NULL OR c.assignee_id = %(assignee_id)s)
       AND (NOT %(open_only)s OR c.state NOT IN ('closed', 'dismissed'))
       AND (%(area)s::text[] IS NULL
            OR s.cell_id = ANY(%(area)s)
            OR EXISTS (SELECT 1 FROM case_notifications n
                       WHERE n.case_id = c.id AND n.township_id = ANY(%(area)s)))))
)
SELECT *, count(*) OVER () AS total
FROM listed
ORDER BY open DESC, overdue DESC, unacknowledged DESC,
         array_position(ARRAY['critical', 'high', 'medium', 'low'], severity),
         raised_at DESC, id DESC
LIMIT %(limit)s

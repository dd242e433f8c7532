-- Who is told of a change to a case: one outbox row per channel, in the change's transaction.
-- audience 'area': the enabled group channels whose area covers the case's site, or a township
-- told of the case downstream, and whose threshold its severity meets; and the assignee's own
-- channels. audience 'assignee': the assignee's own channels, or, when they have none, the
-- group channels covering the site. A row is due at `now` (NULL: when the step just recorded on the case was).
WITH c AS (
    SELECT c.id, c.assignee_id, s.cell_id,
           array_position(%(ranks)s::text[], c.severity) AS rank,
           coalesce(%(now)s::timestamptz,
                    (SELECT e.at FROM case_events e WHERE e.case_id = c.id
                     ORDER BY e.id DESC LIMIT 1),
                    c.updated_at) AS at
    FROM cases c JOIN sites s ON s.id = c.site_id
    WHERE c.id = %(case_id)s
), site_cover AS (
    SELECT unnest(cells_above(c.cell_id)) AS cell_id FROM c
), downstream_cover AS (
    SELECT unnest(cells_above(n.township_id)) AS cell_id
    FROM case_notifications n WHERE n.case_id = %(case_id)s
), own AS (
    SELECT ch.id, false AS downstream
    FROM notify_channels ch, c
    WHERE ch.enabled AND ch.user_id = c.assignee_id
      AND array_position(%(ranks)s::text[], ch.min_severity) <= c.rank
), grp AS (
    SELECT ch.id,
           ch.cell_id IS NOT NULL
           AND ch.cell_id NOT IN (SELECT cell_id FROM site_cover) AS downstream
    FROM notify_channels ch, c
    WHERE ch.enabled AND ch.user_id IS NULL
      AND array_position(%(ranks)s::text[], ch.min_severity) <= c.rank
      AND (ch.cell_id IS NULL
           OR ch.cell_id IN (SELECT cell_id FROM site_cover)
           OR (%(audience)s = 'area' AND ch.cell_id IN (SELECT cell_id FROM downstream_cover)))
      AND (%(audience)s = 'area' OR NOT EXISTS (SELECT 1 FROM own))
), chosen AS (
    SELECT id, bool_and(downstream) AS downstream
    FROM (SELECT * FROM own UNION ALL SELECT * FROM grp) t
    GROUP BY id
)
INSERT INTO notify_outbox (case_id, channel_id, event, detail, created_at, due_at)
SELECT c.id, chosen.id, %(event)s,
       CASE WHEN chosen.downstream
            THEN %(detail)s::jsonb || '{"downstream": true}'::jsonb
            ELSE %(detail)s::jsonb END,
       c.at, c.at
FROM chosen, c

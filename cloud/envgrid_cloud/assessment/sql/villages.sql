-- The month's figures of each village of a township within an area (NULL area: all), counted as
-- in townships.sql; a case belongs to the village of its site's cell (the cell itself, or the
-- village above a villager group). The township's own sites (in no village) make one more row,
-- id NULL, for those whose area holds the whole township, when it has cases.
WITH units AS (
    SELECT v.id, v.name
    FROM grid_cells v
    WHERE v.level = 'village' AND v.parent_id = %(township)s
      AND (%(area)s::text[] IS NULL OR v.id = ANY(%(area)s))
    UNION ALL
    SELECT NULL::text, NULL::text
    WHERE %(area)s::text[] IS NULL OR %(township)s = ANY(%(area)s)
)
SELECT u.id, u.name,
       count(a.case_id) AS cases,
       count(a.acknowledged_at) AS acknowledged,
       count(*) FILTER (WHERE a.ack_due) AS ack_due,
       count(*) FILTER (WHERE a.ack_on_time) AS ack_on_time,
       count(*) FILTER (WHERE a.state = 'closed') AS closed,
       count(*) FILTER (WHERE a.close_due) AS close_due,
       count(*) FILTER (WHERE a.close_on_time) AS close_on_time,
       count(*) FILTER (WHERE a.overdue) AS overdue,
       count(*) FILTER (WHERE a.state = 'dismissed') AS dismissed,
       count(*) FILTER (WHERE a.source = 'officer') AS self_found,
       count(*) FILTER (WHERE a.state NOT IN ('closed', 'dismissed')) AS open,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.ack_seconds) AS median_ack_s,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.close_seconds) AS median_close_s
FROM units u
LEFT JOIN case_assessment a
       ON a.township_id = %(township)s AND a.village_id IS NOT DISTINCT FROM u.id
      AND a.raised_at >= %(start)s AND a.raised_at < %(end)s
GROUP BY u.id, u.name
HAVING u.id IS NOT NULL OR count(a.case_id) > 0
ORDER BY u.id NULLS LAST

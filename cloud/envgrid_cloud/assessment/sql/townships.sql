-- The month's figures of each township of an area (NULL area: every township), optionally only
-- the townships of one county, or one township: counts over case_assessment (migration 0010) of
-- the cases of the township raised in [start, end). A township without a case has a row of
-- zeros. Medians: percentile_cont (the mean of the middle two of an even count).
SELECT t.id, t.name,
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
FROM grid_cells t
LEFT JOIN case_assessment a
       ON a.township_id = t.id AND a.raised_at >= %(start)s AND a.raised_at < %(end)s
WHERE t.level = 'township'
  AND (%(area)s::text[] IS NULL OR t.id = ANY(%(area)s))
  AND (%(county)s::text IS NULL OR t.parent_id = %(county)s)
  AND (%(township)s::text IS NULL OR t.id = %(township)s)
GROUP BY t.id, t.name
ORDER BY t.id

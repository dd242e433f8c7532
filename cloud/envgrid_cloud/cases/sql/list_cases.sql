-- Cases, newest first, by any of the filters; "total" counts every match (before LIMIT).
SELECT c.*, count(*) OVER () AS total
FROM cases c
WHERE (%(township_id)s::text IS NULL OR c.township_id = %(township_id)s)
  AND (%(site_id)s::text IS NULL OR c.site_id = %(site_id)s)
  AND (%(state)s::text IS NULL OR c.state = %(state)s)
  AND (%(open)s::boolean IS NULL OR (c.state NOT IN ('closed', 'dismissed')) = %(open)s)
  AND (%(assignee_id)s::text IS NULL OR c.assignee_id = %(assignee_id)s)
  AND (%(severity)s::text IS NULL OR c.severity = %(severity)s)
  -- Within an area (NULL: everywhere): its site is there, or a township there was told of it.
  AND (%(area)s::text[] IS NULL
       OR EXISTS (SELECT 1 FROM sites s WHERE s.id = c.site_id AND s.cell_id = ANY(%(area)s))
       OR EXISTS (SELECT 1 FROM case_notifications n
                  WHERE n.case_id = c.id AND n.township_id = ANY(%(area)s)))
ORDER BY c.raised_at DESC, c.id DESC
LIMIT %(limit)s OFFSET %(offset)s

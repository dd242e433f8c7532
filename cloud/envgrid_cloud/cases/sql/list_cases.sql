-- Cases, newest first, by any of the filters; "total" counts every match (before LIMIT).
SELECT c.*, count(*) OVER () AS total
FROM cases c
WHERE (%(township_id)s::text IS NULL OR c.township_id = %(township_id)s)
  AND (%(site_id)s::text IS NULL OR c.site_id = %(site_id)s)
  AND (%(state)s::text IS NULL OR c.state = %(state)s)
  AND (%(open)s::boolean IS NULL OR (c.state NOT IN ('closed', 'dismissed')) = %(open)s)
  AND (%(assignee_id)s::text IS NULL OR c.assignee_id = %(assignee_id)s)
  AND (%(severity)s::text IS NULL OR c.severity = %(severity)s)
ORDER BY c.raised_at DESC, c.id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- Which site a node watches and how it reports; no row back if it does not exist.
UPDATE nodes SET site_id = %(site_id)s, kind = %(kind)s, report_interval_s = %(report_interval_s)s
WHERE id = %(id)s
RETURNING id

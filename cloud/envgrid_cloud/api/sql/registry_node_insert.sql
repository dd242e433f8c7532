-- A new node; no row back if the id is taken.
INSERT INTO nodes (id, site_id, kind, report_interval_s)
VALUES (%(id)s, %(site_id)s, %(kind)s, %(report_interval_s)s)
ON CONFLICT (id) DO NOTHING
RETURNING id

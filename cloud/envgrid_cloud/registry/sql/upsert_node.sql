INSERT INTO nodes (id, site_id, kind, report_interval_s)
VALUES (%(id)s, %(site_id)s, %(kind)s, %(report_interval_s)s)
ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, kind = EXCLUDED.kind,
    report_interval_s = EXCLUDED.report_interval_s

INSERT INTO site_downstream (site_id, downstream_id) VALUES (%(site_id)s, %(downstream_id)s)

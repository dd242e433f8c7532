DELETE FROM site_downstream WHERE site_id = ANY(%(site_ids)s)

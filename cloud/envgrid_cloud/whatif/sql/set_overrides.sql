-- The what-if's rule overrides of one site.
UPDATE sites SET rule_overrides = %(rule_overrides)s WHERE id = %(site_id)s

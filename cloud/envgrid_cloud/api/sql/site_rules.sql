-- Replace a site's rule overrides; no row back if it does not exist.
UPDATE sites SET rule_overrides = %(rule_overrides)s WHERE id = %(site_id)s
RETURNING id AS site_id, rule_overrides

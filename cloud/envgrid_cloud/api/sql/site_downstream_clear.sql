-- Forget a site's downstream links (before setting the new ones).
DELETE FROM site_downstream WHERE site_id = %(site_id)s

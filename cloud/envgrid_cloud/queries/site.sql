-- One site.
SELECT id, name, category, cell_id, lon, lat, created_at FROM sites WHERE id = %(site_id)s

-- A site's cell and category.
SELECT id, cell_id, category FROM sites WHERE id = %(site_id)s

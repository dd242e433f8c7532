-- A grid cell's new level, name and parent; no row back if it does not exist.
UPDATE grid_cells SET level = %(level)s, name = %(name)s, parent_id = %(parent_id)s
WHERE id = %(id)s
RETURNING id, level, name, parent_id

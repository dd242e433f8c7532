-- A new grid cell; no row back if the id is taken.
INSERT INTO grid_cells (id, level, name, parent_id)
VALUES (%(id)s, %(level)s, %(name)s, %(parent_id)s)
ON CONFLICT (id) DO NOTHING
RETURNING id, level, name, parent_id

INSERT INTO grid_cells (id, level, name, parent_id)
VALUES (%(id)s, %(level)s, %(name)s, %(parent_id)s)
ON CONFLICT (id) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name,
    parent_id = EXCLUDED.parent_id

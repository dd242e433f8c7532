SELECT id, level, name, parent_id FROM grid_cells ORDER BY id

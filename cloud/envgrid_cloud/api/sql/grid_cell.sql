-- One grid cell.
SELECT id, level, name, parent_id FROM grid_cells WHERE id = %(cell_id)s

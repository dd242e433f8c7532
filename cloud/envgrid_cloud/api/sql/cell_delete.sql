-- Delete a grid cell (its uses are checked first); no row back if it did not exist.
DELETE FROM grid_cells WHERE id = %(cell_id)s RETURNING id

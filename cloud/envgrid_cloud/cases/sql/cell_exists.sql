-- Whether a grid cell exists.
SELECT EXISTS (SELECT 1 FROM grid_cells WHERE id = %(id)s) AS found

-- The names of some grid cells (townships told of a case, for its file).
SELECT id, name FROM grid_cells WHERE id = ANY(%(ids)s)

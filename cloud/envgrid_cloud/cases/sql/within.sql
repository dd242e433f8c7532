-- Whether a cell lies within an area: the area's cell is the cell itself or one of its ancestors.
WITH RECURSIVE up AS (
    SELECT id, parent_id FROM grid_cells WHERE id = %(cell_id)s
    UNION ALL
    SELECT c.id, c.parent_id FROM grid_cells c JOIN up ON c.id = up.parent_id
)
SELECT EXISTS (SELECT 1 FROM up WHERE id = %(area_id)s) AS within

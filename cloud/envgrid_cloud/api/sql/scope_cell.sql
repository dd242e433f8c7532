-- Whether a grid cell is seen from a home cell: in its area, or on the way up from it.
WITH RECURSIVE up AS (
    SELECT id, parent_id FROM grid_cells WHERE id = %(home)s
    UNION ALL
    SELECT c.id, c.parent_id FROM grid_cells c JOIN up ON c.id = up.parent_id
)
SELECT 1 AS found FROM grid_cells
WHERE id = %(cell_id)s
  AND (%(area)s::text[] IS NULL OR id = ANY(%(area)s) OR id IN (SELECT id FROM up))

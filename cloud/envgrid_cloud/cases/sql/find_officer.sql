-- The nearest active officer of the given roles at or above a cell, walking up the grid: from the
-- cell itself (min_depth 0) or from its parent (min_depth 1); within one cell the earlier role in
-- the list wins, then the lowest id (so the choice is stable).
WITH RECURSIVE up AS (
    SELECT id, parent_id, 0 AS depth FROM grid_cells WHERE id = %(cell_id)s
    UNION ALL
    SELECT c.id, c.parent_id, up.depth + 1 FROM grid_cells c JOIN up ON c.id = up.parent_id
)
SELECT o.id, o.name, o.role, o.cell_id
FROM up JOIN users o ON o.cell_id = up.id
WHERE o.active AND o.role = ANY(%(roles)s::text[]) AND up.depth >= %(min_depth)s
ORDER BY up.depth, array_position(%(roles)s::text[], o.role), o.id
LIMIT 1

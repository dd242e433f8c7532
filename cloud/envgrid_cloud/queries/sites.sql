-- Sites, filtered by category and by a cell together with every cell below it.
WITH RECURSIVE subtree AS (
    SELECT id FROM grid_cells WHERE id = %(cell_id)s
    UNION ALL
    SELECT c.id FROM grid_cells c JOIN subtree s ON c.parent_id = s.id
)
SELECT id, name, category, cell_id, lon, lat, created_at
FROM sites
WHERE (%(category)s::text IS NULL OR category = %(category)s)
  AND (%(cell_id)s::text IS NULL OR cell_id IN (SELECT id FROM subtree))
ORDER BY id

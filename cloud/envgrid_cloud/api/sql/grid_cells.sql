-- Grid cells, optionally of one level, parents before children: those of an area and the
-- cells above its home cell (NULL area: every cell).
WITH RECURSIVE up AS (
    SELECT id, parent_id FROM grid_cells WHERE id = %(home)s
    UNION ALL
    SELECT c.id, c.parent_id FROM grid_cells c JOIN up ON c.id = up.parent_id
)
SELECT id, level, name, parent_id
FROM grid_cells
WHERE (%(level)s::text IS NULL OR level = %(level)s)
  AND (%(area)s::text[] IS NULL OR id = ANY(%(area)s) OR id IN (SELECT id FROM up))
ORDER BY array_position(ARRAY['county', 'township', 'village', 'group'], level), id

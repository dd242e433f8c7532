-- Officers, filtered by role and by a cell together with every cell below it.
WITH RECURSIVE subtree AS (
    SELECT id FROM grid_cells WHERE id = %(cell_id)s
    UNION ALL
    SELECT c.id FROM grid_cells c JOIN subtree s ON c.parent_id = s.id
)
SELECT id, name, role, cell_id, phone, email, active, created_at
FROM officers
WHERE (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(cell_id)s::text IS NULL OR cell_id IN (SELECT id FROM subtree))
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
ORDER BY id

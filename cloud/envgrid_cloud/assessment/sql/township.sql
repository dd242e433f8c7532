-- A township someone may break down by village: in their area, or above their own cell (a
-- village officer's township); NULL area: any township.
WITH RECURSIVE up AS (
    SELECT id, parent_id FROM grid_cells WHERE id = %(home)s
    UNION ALL
    SELECT c.id, c.parent_id FROM grid_cells c JOIN up ON c.id = up.parent_id
)
SELECT id, name
FROM grid_cells
WHERE id = %(township)s AND level = 'township'
  AND (%(area)s::text[] IS NULL OR id = ANY(%(area)s) OR id IN (SELECT id FROM up))

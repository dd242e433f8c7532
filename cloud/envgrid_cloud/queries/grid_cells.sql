-- Grid cells, optionally of one level, parents before children.
SELECT id, level, name, parent_id
FROM grid_cells
WHERE %(level)s::text IS NULL OR level = %(level)s
ORDER BY array_position(ARRAY['county', 'township', 'village', 'group'], level), id

-- What the desk's case filters offer within an area (NULL: everywhere): its townships and
-- villages, the rules that raised its cases, and its officers.
SELECT 'township' AS kind, g.id, g.name FROM grid_cells g
WHERE g.level = 'township' AND (%(area)s::text[] IS NULL OR g.id = ANY(%(area)s)
      OR EXISTS (SELECT 1 FROM grid_cells v WHERE v.parent_id = g.id AND v.id = ANY(%(area)s)))
UNION ALL
SELECT 'village', g.id, g.name FROM grid_cells g
WHERE g.level = 'village' AND (%(area)s::text[] IS NULL OR g.id = ANY(%(area)s))
UNION ALL
SELECT DISTINCT 'rule', c.rule_id, c.rule_id FROM cases c JOIN sites s ON s.id = c.site_id
WHERE %(area)s::text[] IS NULL OR s.cell_id = ANY(%(area)s)
UNION ALL
SELECT 'assignee', u.id, u.name FROM users u
WHERE u.active AND (%(area)s::text[] IS NULL OR u.cell_id = ANY(%(area)s))
ORDER BY 1, 3

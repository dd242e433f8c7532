-- The sites of an area (NULL: everywhere) with their place, village, the worst severity among
-- their open cases (NULL: none open) and how many are open, for the desk's map.
SELECT s.id, s.name, s.category, s.lon, s.lat, s.water_type,
       v.id AS village_id, v.name AS village_name,
       (SELECT c.severity FROM cases c
        WHERE c.site_id = s.id AND c.state NOT IN ('closed', 'dismissed')
        ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], c.severity)
        LIMIT 1) AS worst_severity,
       (SELECT count(*) FROM cases c
        WHERE c.site_id = s.id AND c.state NOT IN ('closed', 'dismissed')) AS open_cases
FROM sites s
JOIN grid_cells g ON g.id = s.cell_id
LEFT JOIN grid_cells v
       ON v.id = CASE g.level WHEN 'village' THEN g.id WHEN 'group' THEN g.parent_id END
WHERE %(area)s::text[] IS NULL OR s.cell_id = ANY(%(area)s)
ORDER BY s.id

-- Sites, filtered by category and by a cell together with every cell below it, within an
-- area (NULL: everywhere).
SELECT s.id, s.name, s.category, s.cell_id, s.lon, s.lat, s.production_process,
       s.treatment_requirements, s.target_class, s.water_type, s.census_ref, s.rule_overrides,
       s.created_at,
       ARRAY(SELECT d.downstream_id FROM site_downstream d WHERE d.site_id = s.id
             ORDER BY d.downstream_id) AS downstream
FROM sites s
WHERE (%(category)s::text IS NULL OR s.category = %(category)s)
  AND (%(cell_id)s::text IS NULL OR s.cell_id IN (SELECT unnest(cells_within(%(cell_id)s))))
  AND (%(area)s::text[] IS NULL OR s.cell_id = ANY(%(area)s))
ORDER BY s.id

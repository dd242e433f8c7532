-- One site, with the sites its water flows on to and the ones flowing into it.
SELECT s.id, s.name, s.category, s.cell_id, s.lon, s.lat, s.production_process,
       s.treatment_requirements, s.target_class, s.water_type, s.census_ref, s.rule_overrides,
       s.created_at,
       ARRAY(SELECT d.downstream_id FROM site_downstream d WHERE d.site_id = s.id
             ORDER BY d.downstream_id) AS downstream,
       ARRAY(SELECT u.site_id FROM site_downstream u WHERE u.downstream_id = s.id
             ORDER BY u.site_id) AS upstream
FROM sites s
WHERE s.id = %(site_id)s

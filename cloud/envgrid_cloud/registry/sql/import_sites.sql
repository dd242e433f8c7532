SELECT s.id, s.name, s.category, s.cell_id, s.lon, s.lat, s.production_process,
       s.treatment_requirements, s.target_class, s.water_type, s.census_ref,
       ARRAY(SELECT d.downstream_id FROM site_downstream d WHERE d.site_id = s.id
             ORDER BY d.downstream_id) AS downstream
FROM sites s ORDER BY s.id

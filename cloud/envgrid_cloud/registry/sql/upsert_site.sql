-- rule_overrides is left alone: it is edited through the API, not handed over by a registry.
INSERT INTO sites (id, name, category, cell_id, lon, lat, production_process,
                   treatment_requirements, target_class, water_type, census_ref)
VALUES (%(id)s, %(name)s, %(category)s, %(cell_id)s, %(lon)s, %(lat)s, %(production_process)s,
        %(treatment_requirements)s, %(target_class)s, %(water_type)s, %(census_ref)s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, category = EXCLUDED.category,
    cell_id = EXCLUDED.cell_id, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
    production_process = EXCLUDED.production_process,
    treatment_requirements = EXCLUDED.treatment_requirements,
    target_class = EXCLUDED.target_class, water_type = EXCLUDED.water_type,
    census_ref = EXCLUDED.census_ref

-- A new site; no row back if the id is taken.
INSERT INTO sites (id, name, category, cell_id, lon, lat, production_process,
                   treatment_requirements, target_class, water_type, census_ref)
VALUES (%(id)s, %(name)s, %(category)s, %(cell_id)s, %(lon)s, %(lat)s, %(production_process)s,
        %(treatment_requirements)s, %(target_class)s, %(water_type)s, %(census_ref)s)
ON CONFLICT (id) DO NOTHING
RETURNING id

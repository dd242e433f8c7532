-- Everything about a site but its id and rule overrides; no row back if it does not exist.
UPDATE sites SET name = %(name)s, category = %(category)s, cell_id = %(cell_id)s,
    lon = %(lon)s, lat = %(lat)s, production_process = %(production_process)s,
    treatment_requirements = %(treatment_requirements)s, target_class = %(target_class)s,
    water_type = %(water_type)s, census_ref = %(census_ref)s
WHERE id = %(id)s
RETURNING id

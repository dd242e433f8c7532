-- One officer.
SELECT id, name, role, cell_id, active FROM officers WHERE id = %(id)s

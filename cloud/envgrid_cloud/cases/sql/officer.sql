-- One officer.
SELECT id, name, role, cell_id, active FROM users WHERE id = %(id)s

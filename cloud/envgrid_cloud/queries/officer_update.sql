-- An officer's new details; no row back if they do not exist.
UPDATE officers SET name = %(name)s, role = %(role)s, cell_id = %(cell_id)s, phone = %(phone)s,
    email = %(email)s, active = %(active)s
WHERE id = %(id)s
RETURNING id, name, role, cell_id, phone, email, active, created_at

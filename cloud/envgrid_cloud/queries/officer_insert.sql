-- A new officer; no row back if the id is taken.
INSERT INTO officers (id, name, role, cell_id, phone, email, active)
VALUES (%(id)s, %(name)s, %(role)s, %(cell_id)s, %(phone)s, %(email)s, %(active)s)
ON CONFLICT (id) DO NOTHING
RETURNING id, name, role, cell_id, phone, email, active, created_at

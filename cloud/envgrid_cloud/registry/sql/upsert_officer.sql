-- Officers of a scenario or census become users who sign in with their id as login name,
-- once an admin has given them a password (envgrid users passwd).
INSERT INTO users (id, login, name, role, cell_id, phone, email, active)
VALUES (%(id)s, %(id)s, %(name)s, %(role)s, %(cell_id)s, %(phone)s, %(email)s, %(active)s)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
    cell_id = EXCLUDED.cell_id, phone = EXCLUDED.phone, email = EXCLUDED.email,
    active = EXCLUDED.active, updated_at = now()

-- One officer.
SELECT id, name, role, cell_id, phone, email, active, created_at
FROM officers
WHERE id = %(officer_id)s

-- Users, filtered by role and by a cell together with every cell below it, within the
-- caller's area (NULL: everywhere).
SELECT id, login, name, role, cell_id, phone, email, active, locale,
       password_hash IS NOT NULL AS has_password, created_at
FROM users
WHERE (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(cell_id)s::text IS NULL OR cell_id IN (SELECT unnest(cells_within(%(cell_id)s))))
  AND (%(active)s::boolean IS NULL OR active = %(active)s)
  AND (%(area)s::text[] IS NULL OR cell_id = ANY(%(area)s))
ORDER BY id

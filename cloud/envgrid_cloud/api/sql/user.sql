-- One user, if within the caller's area (NULL: everywhere).
SELECT id, login, name, role, cell_id, phone, email, active, locale,
       password_hash IS NOT NULL AS has_password, created_at
FROM users
WHERE id = %(user_id)s
  AND (%(area)s::text[] IS NULL OR cell_id = ANY(%(area)s))

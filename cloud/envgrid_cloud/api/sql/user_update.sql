-- A user's new details; no row back if they do not exist. Deactivating ends their sessions.
WITH ended AS (
    DELETE FROM sessions WHERE user_id = %(id)s AND NOT %(active)s
)
UPDATE users SET login = %(login)s, name = %(name)s, role = %(role)s, cell_id = %(cell_id)s,
    phone = %(phone)s, email = %(email)s, active = %(active)s, locale = %(locale)s,
    updated_at = now()
WHERE id = %(id)s
RETURNING id, login, name, role, cell_id, phone, email, active, locale,
          password_hash IS NOT NULL AS has_password, created_at

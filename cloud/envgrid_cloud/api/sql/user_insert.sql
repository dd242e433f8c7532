-- A new user; no row back if the id or the login name is taken.
INSERT INTO users (id, login, name, role, cell_id, phone, email, active, locale, password_hash)
VALUES (%(id)s, %(login)s, %(name)s, %(role)s, %(cell_id)s, %(phone)s, %(email)s, %(active)s,
        %(locale)s, %(password_hash)s)
ON CONFLICT DO NOTHING
RETURNING id, login, name, role, cell_id, phone, email, active, locale,
          password_hash IS NOT NULL AS has_password, created_at

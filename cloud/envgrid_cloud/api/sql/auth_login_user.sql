-- The account a login names (login names compare without case).
SELECT id, login, name, role, cell_id, locale, active, password_hash
FROM users
WHERE lower(login) = lower(%(login)s)

-- The user behind a session cookie (by its SHA-256), if the session and the user are live,
-- with the cells of their area.
SELECT u.id, u.login, u.name, u.role, u.cell_id, u.locale, s.csrf_token, s.last_seen_at,
       NULL::bigint AS token_id, cells_within(u.cell_id) AS cells
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %(token_hash)s AND s.expires_at > now() AND u.active

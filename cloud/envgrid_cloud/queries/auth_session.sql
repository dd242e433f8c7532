-- The user behind a session cookie (by its SHA-256), if the session and the user are live,
-- with the cells of their area (their cell and every cell below it).
WITH RECURSIVE live AS (
    SELECT s.user_id, s.csrf_token, s.last_seen_at
    FROM sessions s
    WHERE s.token_hash = %(token_hash)s AND s.expires_at > now()
), person AS (
    SELECT u.id, u.login, u.name, u.role, u.cell_id, u.locale
    FROM users u JOIN live ON u.id = live.user_id
    WHERE u.active
), area AS (
    SELECT id FROM grid_cells WHERE id = (SELECT cell_id FROM person)
    UNION ALL
    SELECT c.id FROM grid_cells c JOIN area a ON c.parent_id = a.id
)
SELECT p.id, p.login, p.name, p.role, p.cell_id, p.locale, live.csrf_token, live.last_seen_at,
       NULL::bigint AS token_id, (SELECT array_agg(id) FROM area) AS cells
FROM person p, live

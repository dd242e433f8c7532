-- The user behind an API token (by its SHA-256), if the token is live and the user active,
-- with the cells of their area.
WITH RECURSIVE live AS (
    SELECT t.id, t.user_id, t.last_used_at
    FROM api_tokens t
    WHERE t.token_hash = %(token_hash)s
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now())
), person AS (
    SELECT u.id, u.login, u.name, u.role, u.cell_id, u.locale
    FROM users u JOIN live ON u.id = live.user_id
    WHERE u.active
), area AS (
    SELECT id FROM grid_cells WHERE id = (SELECT cell_id FROM person)
    UNION ALL
    SELECT c.id FROM grid_cells c JOIN area a ON c.parent_id = a.id
)
SELECT p.id, p.login, p.name, p.role, p.cell_id, p.locale, NULL::text AS csrf_token,
       live.last_used_at AS last_seen_at, live.id AS token_id,
       (SELECT array_agg(id) FROM area) AS cells
FROM person p, live

-- The user behind an API token (by its SHA-256), if the token is live and the user active,
-- with the cells of their area.
SELECT u.id, u.login, u.name, u.role, u.cell_id, u.locale, NULL::text AS csrf_token,
       t.last_used_at AS last_seen_at, t.id AS token_id, cells_within(u.cell_id) AS cells
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = %(token_hash)s
  AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
  AND u.active

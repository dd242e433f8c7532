-- A new API token of a user (its SHA-256 only); no row back if a live one has that name.
INSERT INTO api_tokens (user_id, name, token_hash, prefix, expires_at)
SELECT u.id, %(name)s, %(token_hash)s, %(prefix)s,
       CASE WHEN %(expires_days)s::int IS NULL THEN NULL
            ELSE now() + make_interval(days => %(expires_days)s::int) END
FROM users u WHERE lower(u.login) = lower(%(login)s)
ON CONFLICT DO NOTHING
RETURNING id, user_id, name, prefix, created_at, expires_at

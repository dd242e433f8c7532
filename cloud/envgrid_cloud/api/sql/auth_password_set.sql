-- A user's new password hash; their sessions end unless one is kept (the one changing it).
WITH ended AS (
    DELETE FROM sessions
    WHERE user_id = %(user_id)s AND token_hash IS DISTINCT FROM %(keep_session)s
)
UPDATE users SET password_hash = %(password_hash)s, updated_at = now()
WHERE id = %(user_id)s
RETURNING id

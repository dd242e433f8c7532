-- Deactivate a user by login name: no sign-in, no token works, their sessions end.
WITH target AS (
    UPDATE users SET active = false, updated_at = now()
    WHERE lower(login) = lower(%(login)s)
    RETURNING id
), ended AS (
    DELETE FROM sessions WHERE user_id IN (SELECT id FROM target)
)
SELECT id FROM target

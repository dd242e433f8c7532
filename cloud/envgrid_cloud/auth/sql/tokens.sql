-- API tokens, newest first, of one user or all; revoked ones too.
SELECT t.id, u.login, t.name, t.prefix, t.created_at, t.expires_at, t.revoked_at,
       t.last_used_at, t.last_used_address
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE %(login)s::text IS NULL OR lower(u.login) = lower(%(login)s)
ORDER BY t.created_at DESC, t.id DESC

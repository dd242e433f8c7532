-- Revoke a token by its id; no row back if there is none still live.
UPDATE api_tokens SET revoked_at = now()
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING id, name

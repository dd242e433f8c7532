-- When and from where a token was last used.
UPDATE api_tokens SET last_used_at = now(), last_used_address = %(address)s WHERE id = %(id)s

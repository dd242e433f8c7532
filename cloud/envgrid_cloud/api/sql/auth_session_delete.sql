-- Sign out: the session is gone.
DELETE FROM sessions WHERE token_hash = %(token_hash)s

-- A session in use stays alive for another idle period, never past its absolute end.
UPDATE sessions
SET last_seen_at = now(),
    expires_at = least(created_at + make_interval(secs => %(max_s)s),
                       now() + make_interval(secs => %(idle_s)s))
WHERE token_hash = %(token_hash)s

-- A new browser session.
INSERT INTO sessions (token_hash, user_id, csrf_token, address, user_agent, expires_at)
VALUES (%(token_hash)s, %(user_id)s, %(csrf_token)s, %(address)s, %(user_agent)s,
        now() + make_interval(secs => %(idle_s)s))

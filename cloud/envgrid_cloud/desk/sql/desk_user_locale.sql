-- A user's own language (the desk's language switch).
UPDATE users SET locale = %(locale)s, updated_at = now() WHERE id = %(user_id)s

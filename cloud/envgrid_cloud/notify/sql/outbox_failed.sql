-- Rows whose message failed: they stay pending, and are tried again with the channel.
UPDATE notify_outbox
SET attempts = attempts + 1, last_error = %(error)s, attempt_id = %(attempt_id)s
WHERE id = ANY(%(ids)s)

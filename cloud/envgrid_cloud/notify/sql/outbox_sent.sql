-- Rows delivered by a message.
UPDATE notify_outbox
SET state = 'sent', sent_at = %(now)s, attempts = attempts + 1, attempt_id = %(attempt_id)s,
    last_error = NULL
WHERE id = ANY(%(ids)s)

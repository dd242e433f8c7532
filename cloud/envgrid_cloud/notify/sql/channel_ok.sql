-- A channel answered: healthy again.
UPDATE notify_channels
SET consecutive_failures = 0, failing_since = NULL, retry_at = NULL, last_error = NULL,
    last_attempt_at = %(now)s, last_success_at = %(now)s
WHERE id = %(id)s

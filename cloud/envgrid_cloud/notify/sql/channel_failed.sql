-- A channel failed once more: it waits before the next try, and is failing after enough
-- failures in a row.
UPDATE notify_channels
SET consecutive_failures = consecutive_failures + 1,
    failing_since = CASE WHEN consecutive_failures + 1 >= %(failing_after)s
                         THEN coalesce(failing_since, %(now)s) END,
    retry_at = %(retry_at)s, last_error = %(error)s, last_attempt_at = %(now)s
WHERE id = %(id)s
RETURNING consecutive_failures

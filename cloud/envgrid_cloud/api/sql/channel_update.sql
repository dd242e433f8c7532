-- A channel's new settings. Disabled, what waits for it is dropped (it would all go at once on
-- re-enabling); a new target starts with a clean bill of health.
WITH dropped AS (
    UPDATE notify_outbox SET state = 'dropped', last_error = 'not sent: the channel was disabled'
    WHERE channel_id = %(id)s AND state IN ('pending', 'held') AND NOT %(enabled)s
)
UPDATE notify_channels
SET name = %(name)s, kind = %(kind)s, target = %(target)s, secret = %(secret)s,
    cell_id = %(cell_id)s, user_id = %(user_id)s, min_severity = %(min_severity)s,
    enabled = %(enabled)s, rate_per_minute = %(rate_per_minute)s, updated_at = now(),
    consecutive_failures = CASE WHEN target = %(target)s AND kind = %(kind)s
                                 AND secret IS NOT DISTINCT FROM %(secret)s
                                THEN consecutive_failures ELSE 0 END,
    failing_since = CASE WHEN target = %(target)s AND kind = %(kind)s
                          AND secret IS NOT DISTINCT FROM %(secret)s
                         THEN failing_since END,
    retry_at = CASE WHEN target = %(target)s AND kind = %(kind)s
                     AND secret IS NOT DISTINCT FROM %(secret)s
                    THEN retry_at END
WHERE id = %(id)s

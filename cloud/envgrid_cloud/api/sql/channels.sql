-- Notification channels with their health and what waits for them. Within the caller's area
-- (NULL: all): everywhere-channels, those of a cell in it or above the caller's own, personal
-- channels of the caller and of the users of the area.
SELECT ch.id, ch.name, ch.kind, ch.target, ch.secret IS NOT NULL AS has_secret, ch.cell_id,
       ch.user_id, ch.min_severity, ch.enabled, ch.rate_per_minute,
       ch.failing_since IS NOT NULL AS failing, ch.failing_since, ch.consecutive_failures,
       ch.last_error, ch.last_attempt_at, ch.last_success_at, ch.retry_at,
       (SELECT count(*) FROM notify_outbox o
        WHERE o.channel_id = ch.id AND o.state = 'pending') AS pending,
       (SELECT count(*) FROM notify_outbox o WHERE o.channel_id = ch.id AND o.state = 'held') AS held,
       ch.created_at, ch.updated_at
FROM notify_channels ch
WHERE (%(id)s::bigint IS NULL OR ch.id = %(id)s)
  AND (%(failing)s::boolean IS NULL OR (ch.failing_since IS NOT NULL) = %(failing)s)
  AND (%(kind)s::text IS NULL OR ch.kind = %(kind)s)
  AND (%(enabled)s::boolean IS NULL OR ch.enabled = %(enabled)s)
  AND (%(area)s::text[] IS NULL
       OR ch.user_id = %(user_id)s
       OR ch.user_id IN (SELECT u.id FROM users u WHERE u.cell_id = ANY(%(area)s))
       OR (ch.user_id IS NULL
           AND (ch.cell_id IS NULL OR ch.cell_id = ANY(%(area)s)
                OR ch.cell_id = ANY(cells_above(%(home)s)))))
ORDER BY ch.id

-- Enabled channels with something due, not waiting out a back-off.
SELECT ch.id
FROM notify_channels ch
WHERE ch.enabled
  AND (ch.retry_at IS NULL OR ch.retry_at <= %(now)s)
  AND EXISTS (SELECT 1 FROM notify_outbox o
              WHERE o.channel_id = ch.id AND o.state = 'pending' AND o.due_at <= %(now)s)
ORDER BY ch.id

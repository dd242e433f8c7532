-- Remove a channel: deleted if it never had anything to send; otherwise disabled and kept, so
-- the cases' record of who was told stays whole (what waited is dropped).
WITH used AS (
    SELECT EXISTS (SELECT 1 FROM notify_outbox WHERE channel_id = %(id)s) AS used
), dropped AS (
    UPDATE notify_outbox SET state = 'dropped', last_error = 'not sent: the channel was removed'
    WHERE channel_id = %(id)s AND state IN ('pending', 'held')
), disabled AS (
    UPDATE notify_channels SET enabled = false, updated_at = now()
    WHERE id = %(id)s AND (SELECT used FROM used)
    RETURNING id, 'disabled' AS outcome
), deleted AS (
    DELETE FROM notify_channels
    WHERE id = %(id)s AND NOT (SELECT used FROM used)
    RETURNING id, 'deleted' AS outcome
)
SELECT * FROM disabled UNION ALL SELECT * FROM deleted

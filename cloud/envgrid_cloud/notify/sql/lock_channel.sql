-- A channel to deliver to, locked for the length of one delivery (one sender per channel across
-- API processes); nothing if another process has it, it was disabled or it is backing off.
SELECT * FROM notify_channels
WHERE id = %(id)s AND enabled AND (retry_at IS NULL OR retry_at <= %(now)s)
FOR UPDATE SKIP LOCKED

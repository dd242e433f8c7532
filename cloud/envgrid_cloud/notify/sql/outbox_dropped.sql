-- Rows no longer worth sending (a reminder of a case since acknowledged, a notice held by a
-- silence of a case closed meanwhile), with why.
UPDATE notify_outbox SET state = 'dropped', last_error = %(why)s
WHERE id = ANY(%(ids)s)

-- Statuses can arrive out of order (retained copies, redelivery): an older one never wins.
UPDATE nodes SET status = %(state)s, status_at = %(ts)s
WHERE id = %(node_id)s AND (status_at IS NULL OR status_at <= %(ts)s)

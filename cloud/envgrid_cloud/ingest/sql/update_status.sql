-- Statuses can arrive out of order (retained copies, redelivery): an older one never wins.
-- Every worker applies every status, so the previous state says whether this one changed it.
WITH old AS (SELECT status FROM nodes WHERE id = %(node_id)s FOR UPDATE)
UPDATE nodes SET status = %(state)s, status_at = %(ts)s
WHERE id = %(node_id)s AND (status_at IS NULL OR status_at <= %(ts)s)
RETURNING (SELECT status FROM old) AS previous

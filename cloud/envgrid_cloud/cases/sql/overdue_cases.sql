-- Open cases past a deadline: not acknowledged by ack_due_at (still raised or dispatched), or not
-- closed by close_due_at. A deadline already reported overdue at the top of the grid (an
-- 'overdue' event naming that very deadline) does not count again. Locked; a case someone is
-- moving right now is skipped and looked at by the next sweep.
SELECT c.*, s.cell_id AS site_cell_id, m.ack_missed, m.close_missed
FROM cases c
JOIN sites s ON s.id = c.site_id
CROSS JOIN LATERAL (
    SELECT
        coalesce(c.state IN ('raised', 'dispatched') AND c.ack_due_at <= %(now)s
                 AND NOT EXISTS (
                     SELECT 1 FROM case_events e
                     WHERE e.case_id = c.id AND e.action = 'overdue'
                       AND (e.detail ->> 'ack_due_at')::timestamptz = c.ack_due_at),
                 false) AS ack_missed,
        coalesce(c.close_due_at <= %(now)s
                 AND NOT EXISTS (
                     SELECT 1 FROM case_events e
                     WHERE e.case_id = c.id AND e.action = 'overdue'
                       AND (e.detail ->> 'close_due_at')::timestamptz = c.close_due_at),
                 false) AS close_missed
) m
WHERE c.state NOT IN ('closed', 'dismissed')
  AND (c.ack_due_at <= %(now)s OR c.close_due_at <= %(now)s)
  AND (m.ack_missed OR m.close_missed)
ORDER BY c.id
LIMIT %(limit)s
FOR UPDATE OF c SKIP LOCKED

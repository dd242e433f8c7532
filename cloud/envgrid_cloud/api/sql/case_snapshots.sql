-- The snapshots a case shows (see the case_snapshots view), oldest first.
SELECT s.node_id, s.event_id, s.size, s.received_at, s.versions
FROM case_snapshots cs JOIN snapshots s USING (node_id, event_id)
WHERE cs.case_id = %(case_id)s
ORDER BY s.received_at, s.node_id, s.event_id

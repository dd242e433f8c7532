-- The snapshots of cases dismissed as false alarms (误报), dismissed since %(since)s (NULL: ever),
-- of township %(township_id)s (NULL: all), oldest dismissal first; the bytes are read one by one.
SELECT c.id AS case_id, c.township_id, s.node_id, s.event_id, s.size, s.received_at,
       c.closed_at AS dismissed_at,
       (SELECT e.detail ->> 'reason' FROM case_events e
        WHERE e.case_id = c.id AND e.action = 'dismiss' ORDER BY e.id DESC LIMIT 1) AS reason,
       (SELECT d.kind FROM detections d
        WHERE d.node_id = s.node_id AND d.event_id = s.event_id
        ORDER BY d.ts DESC, d.seq DESC LIMIT 1) AS kind
FROM cases c
JOIN case_snapshots cs ON cs.case_id = c.id
JOIN snapshots s ON s.node_id = cs.node_id AND s.event_id = cs.event_id
WHERE c.state = 'dismissed'
  AND (%(since)s::timestamptz IS NULL OR c.closed_at >= %(since)s)
  AND (%(township_id)s::text IS NULL OR c.township_id = %(township_id)s)
ORDER BY c.closed_at, c.id, s.node_id, s.event_id

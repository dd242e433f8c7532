-- One camera detection message; a resent one (same node, ts, seq) is skipped.
INSERT INTO detections (node_id, ts, seq, event_id, kind, phase, confidence, body, historical)
VALUES (%s, %s, %s, %s, %s, %s, %s, convert_from(%s, 'UTF8')::jsonb, %s)
ON CONFLICT DO NOTHING
RETURNING node_id

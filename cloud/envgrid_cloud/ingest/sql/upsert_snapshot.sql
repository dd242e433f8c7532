-- One snapshot per (node, event): a different one replaces it (the camera found better
-- evidence); the same one again (a redelivery), or a late copy of one it replaced, changes
-- nothing. Returns a row only when something was stored.
INSERT INTO snapshots AS s (node_id, event_id, jpeg, size, digest, received_at, topic)
VALUES (%(node_id)s, %(event_id)s, %(jpeg)s, %(size)s, %(digest)s, %(received_at)s, %(topic)s)
ON CONFLICT (node_id, event_id) DO UPDATE SET
    jpeg = EXCLUDED.jpeg, size = EXCLUDED.size, digest = EXCLUDED.digest,
    received_at = EXCLUDED.received_at, topic = EXCLUDED.topic,
    earlier = (array_prepend(s.digest, s.earlier))[1:16],
    versions = s.versions + 1
WHERE s.digest <> EXCLUDED.digest AND NOT (EXCLUDED.digest = ANY (s.earlier))
RETURNING node_id

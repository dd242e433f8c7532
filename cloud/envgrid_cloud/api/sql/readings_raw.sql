-- One metric's points of a site (or one of its nodes) in [start, end), oldest first.
SELECT r.ts, r.node_id, r.seq,
       (r.vals ->> %(metric)s)::double precision AS value,
       r.flags ->> %(metric)s AS flag,
       r.historical
FROM readings r
JOIN nodes n ON n.id = r.node_id
WHERE n.site_id = %(site_id)s
  AND (%(node_id)s::text IS NULL OR r.node_id = %(node_id)s)
  AND r.ts >= %(start)s AND r.ts < %(end)s
  AND jsonb_typeof(r.vals -> %(metric)s) = 'number'
ORDER BY r.ts, r.node_id, r.seq
LIMIT %(limit)s

-- One metric of a site aggregated per interval. date_bin (not time_bucket) so the result is
-- the same with or without TimescaleDB; the origin is a Monday midnight in Asia/Shanghai, so
-- day and week buckets start at Shanghai midnight. Statistics use valid values only: no flag,
-- or N, S, T (HJ 212-2017 表 8); others (F, M, D, C, B) are only counted as invalid.
WITH points AS (
    SELECT date_bin(%(bucket)s, r.ts, %(origin)s) AS bucket_start,
           (r.vals ->> %(metric)s)::double precision AS value,
           coalesce(r.flags ->> %(metric)s, 'N') IN ('N', 'S', 'T') AS valid
    FROM readings r
    JOIN nodes n ON n.id = r.node_id
    WHERE n.site_id = %(site_id)s
      AND (%(node_id)s::text IS NULL OR r.node_id = %(node_id)s)
      AND r.ts >= %(start)s AND r.ts < %(end)s
      AND jsonb_typeof(r.vals -> %(metric)s) = 'number'
)
SELECT bucket_start,
       avg(value) FILTER (WHERE valid) AS avg,
       min(value) FILTER (WHERE valid) AS min,
       max(value) FILTER (WHERE valid) AS max,
       count(*) FILTER (WHERE valid) AS count,
       count(*) FILTER (WHERE NOT valid) AS invalid
FROM points
GROUP BY bucket_start
ORDER BY bucket_start
LIMIT %(limit)s

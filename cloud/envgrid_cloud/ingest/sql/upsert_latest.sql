-- The newest value of each metric of each node in the batch, kept only if newer than what is
-- stored. Only the newest reading of each node, and older ones carrying a metric it lacks, are
-- expanded: far less to sort than every value of the batch. Sorted by the key so that
-- concurrent workers lock rows in the same order.
INSERT INTO latest_values AS lv (node_id, metric, ts, seq, value, flag)
SELECT DISTINCT ON (c.node_id, v.metric)
    c.node_id, v.metric, c.ts, c.seq, v.value::double precision, c.flags ->> v.metric
FROM (
    SELECT s.node_id, s.ts, s.seq, s.vals, s.flags
    FROM ingest_staging AS s
    JOIN (
        SELECT DISTINCT ON (node_id)
            node_id, ts, seq, ARRAY(SELECT jsonb_object_keys(vals)) AS metrics
        FROM ingest_staging
        ORDER BY node_id, ts DESC, seq DESC
    ) AS newest ON newest.node_id = s.node_id
    WHERE (s.ts, s.seq) = (newest.ts, newest.seq) OR s.vals - newest.metrics <> '{}'
) AS c, jsonb_each(c.vals) AS v (metric, value)
ORDER BY c.node_id, v.metric, c.ts DESC, c.seq DESC
ON CONFLICT (node_id, metric) DO UPDATE
SET ts = excluded.ts, seq = excluded.seq, value = excluded.value, flag = excluded.flag
WHERE (lv.ts, lv.seq) < (excluded.ts, excluded.seq)

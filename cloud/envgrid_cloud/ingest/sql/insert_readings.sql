-- A redelivered or resent reading has the same (node_id, ts, seq): it is skipped, not doubled.
-- The keys of the rows really inserted go to the rules: a duplicate is never judged twice.
INSERT INTO readings (node_id, ts, seq, vals, flags, historical)
SELECT node_id, ts, seq, vals, flags, historical FROM ingest_staging
ON CONFLICT DO NOTHING
RETURNING node_id, ts, seq

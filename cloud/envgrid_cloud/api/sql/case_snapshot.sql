-- One snapshot of a case, if the case shows it.
SELECT s.jpeg, encode(s.digest, 'hex') AS digest
FROM case_snapshots cs JOIN snapshots s USING (node_id, event_id)
WHERE cs.case_id = %(case_id)s AND cs.node_id = %(node_id)s AND cs.event_id = %(event_id)s

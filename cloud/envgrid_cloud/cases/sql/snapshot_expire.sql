-- Delete up to %(limit)s snapshots received before %(before)s, except evidence still needed:
-- those of a case still open, and those of a case dismissed as a false alarm (the detector's
-- re-evaluation set) unless they are older than %(false_alarm_before)s (NULL: kept for good).
DELETE FROM snapshots
WHERE (node_id, event_id) IN (
    SELECT s.node_id, s.event_id
    FROM snapshots s
    WHERE s.received_at < %(before)s
      AND NOT EXISTS (
          SELECT 1 FROM case_snapshots cs JOIN cases c ON c.id = cs.case_id
          WHERE cs.node_id = s.node_id AND cs.event_id = s.event_id
            AND (c.state NOT IN ('closed', 'dismissed')
                 OR (c.state = 'dismissed'
                     AND (%(false_alarm_before)s::timestamptz IS NULL
                          OR s.received_at >= %(false_alarm_before)s))))
    ORDER BY s.received_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)

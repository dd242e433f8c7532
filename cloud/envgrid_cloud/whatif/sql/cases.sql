-- The cases a replay raised, as the what-if compares them.
SELECT site_id, rule_id, state, occurrences, first_seen_at, last_seen_at, raised_at, cleared_at,
       first_value, peak_value, severity
FROM cases
ORDER BY site_id, rule_id, raised_at

-- Rule states holding a day that has ended (daily-mean rules), for the day-close sweep.
SELECT site_id, rule_id, node_id
FROM rule_state
WHERE state ->> 'day' IS NOT NULL AND state ->> 'day' < %(today)s
ORDER BY site_id, rule_id, node_id

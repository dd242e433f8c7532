-- A channel's due outbox rows, oldest first, with their case as it is now; rows of a silenced
-- case wait (the hold step marks them held). Locked until the delivery commits.
SELECT o.id, o.case_id, o.event, o.detail, o.created_at, o.silence_id,
       c.state, c.severity, c.title, c.rule_id, c.metric, c.last_value, c.peak_value,
       c.detail AS case_detail, c.last_seen_at, c.assignee_id,
       s.name AS site_name, s.category AS site_category,
       u.name AS assignee_name, u.phone AS assignee_phone
FROM notify_outbox o
JOIN cases c ON c.id = o.case_id
JOIN sites s ON s.id = c.site_id
LEFT JOIN users u ON u.id = c.assignee_id
WHERE o.channel_id = %(id)s AND o.state = 'pending' AND o.due_at <= %(now)s
  AND notify_silence_for(c.site_id, c.rule_id, %(now)s) IS NULL
ORDER BY o.due_at, o.id
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED

-- Unacknowledged open cases (raised or dispatched) whose assignee was last told of them — handed
-- the case, or reminded — at least their severity's interval ago (0: never reminded), and that no
-- silence holds. Locked; a case someone is moving right now is left for the next sweep.
SELECT c.id, c.assignee_id,
       CASE WHEN r.assignee_id IS NOT DISTINCT FROM c.assignee_id THEN r.sent ELSE 0 END AS sent
FROM cases c
LEFT JOIN notify_reminders r ON r.case_id = c.id
CROSS JOIN LATERAL (
    SELECT max(e.at) AS at FROM case_events e
    WHERE e.case_id = c.id
      AND e.action IN ('raised', 'dispatched', 'dispatch', 'reassign', 'escalated')
) handed
CROSS JOIN LATERAL (
    SELECT CASE c.severity WHEN 'critical' THEN %(critical_s)s WHEN 'high' THEN %(high_s)s
                           WHEN 'medium' THEN %(medium_s)s ELSE %(low_s)s END::double precision
           AS every_s
) i
WHERE c.state IN ('raised', 'dispatched')
  AND i.every_s > 0
  AND greatest(coalesce(handed.at, c.raised_at),
               CASE WHEN r.assignee_id IS NOT DISTINCT FROM c.assignee_id THEN r.last_at END)
      + make_interval(secs => i.every_s) <= %(now)s
  AND notify_silence_for(c.site_id, c.rule_id, %(now)s) IS NULL
ORDER BY c.id
LIMIT %(limit)s
FOR UPDATE OF c SKIP LOCKED

-- Held rows whose case no silence holds any more (it ended or was lifted) are due again now.
WITH freed AS (
    SELECT o.id
    FROM notify_outbox o JOIN cases c ON c.id = o.case_id
    WHERE o.state = 'held' AND notify_silence_for(c.site_id, c.rule_id, %(now)s) IS NULL
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE notify_outbox o SET state = 'pending', due_at = greatest(o.due_at, %(now)s)
FROM freed
WHERE o.id = freed.id

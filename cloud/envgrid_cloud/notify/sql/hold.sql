-- Pending rows of a case under a silence are held (visibly, naming the silence).
WITH silenced AS (
    SELECT o.id, notify_silence_for(c.site_id, c.rule_id, %(now)s) AS silence_id
    FROM notify_outbox o JOIN cases c ON c.id = o.case_id
    WHERE o.state = 'pending'
      AND EXISTS (SELECT 1 FROM notify_silences s
                  WHERE s.lifted_at IS NULL AND s.starts_at <= %(now)s AND s.until > %(now)s)
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE notify_outbox o SET state = 'held', silence_id = silenced.silence_id
FROM silenced
WHERE o.id = silenced.id AND silenced.silence_id IS NOT NULL

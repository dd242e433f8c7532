-- The audit log, newest first, filtered; with the number of entries matching.
SELECT id, at, actor, via, token_id, address, action, target, outcome, detail,
       count(*) OVER () AS total
FROM audit_log
WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
ORDER BY at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

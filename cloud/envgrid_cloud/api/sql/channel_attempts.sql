-- A channel's latest attempts, newest first.
SELECT a.id, a.channel_id, ch.name AS channel_name, ch.kind AS channel_kind, a.at, a.ok,
       a.status, a.response, a.error, a.digest, cardinality(a.case_ids) AS cases, a.request,
       a.duration_ms
FROM notify_attempts a JOIN notify_channels ch ON ch.id = a.channel_id
WHERE a.channel_id = %(id)s
ORDER BY a.id DESC
LIMIT %(limit)s

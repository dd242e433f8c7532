-- A channel's messages within the rate window before now, and the latest of them.
SELECT count(*) AS recent, max(at) AS last_at
FROM notify_attempts
WHERE channel_id = %(id)s AND at > %(now)s - make_interval(secs => %(window_s)s)

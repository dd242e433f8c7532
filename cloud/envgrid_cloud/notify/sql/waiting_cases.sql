-- How many cases a channel has due (for "N more to follow").
SELECT count(DISTINCT o.case_id) AS waiting
FROM notify_outbox o
WHERE o.channel_id = %(id)s AND o.state = 'pending' AND o.due_at <= %(now)s

-- Who was told of a case: its outbox rows, in order.
SELECT o.id, o.channel_id, ch.name AS channel_name, ch.kind AS channel_kind, o.event, o.state,
       o.created_at, o.due_at, o.attempts, o.last_error, o.sent_at, o.attempt_id, o.silence_id
FROM notify_outbox o JOIN notify_channels ch ON ch.id = o.channel_id
WHERE o.case_id = %(case_id)s
ORDER BY o.id

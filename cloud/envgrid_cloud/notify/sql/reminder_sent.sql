-- A reminder was queued for the case's assignee.
INSERT INTO notify_reminders (case_id, assignee_id, last_at, sent)
VALUES (%(case_id)s, %(assignee_id)s, %(now)s, %(sent)s)
ON CONFLICT (case_id) DO UPDATE
SET assignee_id = EXCLUDED.assignee_id, last_at = EXCLUDED.last_at, sent = EXCLUDED.sent

-- One message sent (or tried) and its answer.
INSERT INTO notify_attempts (channel_id, at, case_ids, outbox_ids, digest, request, ok, status,
                             response, error, duration_ms)
VALUES (%(channel_id)s, %(at)s, %(case_ids)s, %(outbox_ids)s, %(digest)s, %(request)s, %(ok)s,
        %(status)s, %(response)s, %(error)s, %(duration_ms)s)
RETURNING id

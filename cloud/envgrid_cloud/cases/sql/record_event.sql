-- One step in a case's file (一案一档): who, when, what, from which state to which.
INSERT INTO case_events (case_id, at, actor, action, from_state, to_state, notes, attachments,
                         detail)
VALUES (%(case_id)s, %(at)s, %(actor)s, %(action)s, %(from_state)s, %(to_state)s, %(notes)s,
        %(attachments)s, %(detail)s)
RETURNING id

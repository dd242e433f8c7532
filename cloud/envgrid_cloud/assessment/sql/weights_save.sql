-- Set the score's weights, noting who and when.
INSERT INTO assessment_weights AS w (
    id, ack_on_time, close_on_time, self_found, overdue, false_alarm, updated_at, updated_by)
VALUES (true, %(ack_on_time)s, %(close_on_time)s, %(self_found)s, %(overdue)s, %(false_alarm)s,
        now(), %(updated_by)s)
ON CONFLICT (id) DO UPDATE SET
    ack_on_time = EXCLUDED.ack_on_time,
    close_on_time = EXCLUDED.close_on_time,
    self_found = EXCLUDED.self_found,
    overdue = EXCLUDED.overdue,
    false_alarm = EXCLUDED.false_alarm,
    updated_at = EXCLUDED.updated_at,
    updated_by = EXCLUDED.updated_by
RETURNING ack_on_time, close_on_time, self_found, overdue, false_alarm, updated_at, updated_by

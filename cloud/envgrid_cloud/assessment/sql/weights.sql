-- The score's weights (one row; the shipped defaults until an administrator sets them).
SELECT ack_on_time, close_on_time, self_found, overdue, false_alarm, updated_at, updated_by
FROM assessment_weights

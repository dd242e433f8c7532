-- Move a case: its new state and, where given (not null), who has it, its deadlines, its level,
-- when it left the loop.
UPDATE cases SET
    state = %(state)s,
    assignee_id = coalesce(%(assignee_id)s::text, assignee_id),
    assigned_cell_id = coalesce(%(assigned_cell_id)s::text, assigned_cell_id),
    ack_due_at = coalesce(%(ack_due_at)s::timestamptz, ack_due_at),
    close_due_at = coalesce(%(close_due_at)s::timestamptz, close_due_at),
    closed_at = coalesce(%(closed_at)s::timestamptz, closed_at),
    escalation_level = coalesce(%(escalation_level)s::integer, escalation_level),
    updated_at = %(now)s
WHERE id = %(id)s
RETURNING *
